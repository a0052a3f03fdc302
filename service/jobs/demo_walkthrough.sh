H="Authorization: Bearer $RATECARD_KEY"

# 1. estimate the bundled sample (multipart upload, counted with the model's tokenizer)
curl -s -H "$H" -F file=@pricing/data/sample_chat.jsonl -F model=gpt-3.5-turbo-0613 -F as_of=2023-09-01 \
     $API/v1/estimates/training/file          # billing_tokens 4306, n_epochs 20, cost_usd "0.68896"

# 2. launch a demo job (preview first: estimate + team budget, nothing created)
curl -s -H "$H" -H 'Content-Type: application/json' $API/v1/jobs/preview \
     -d "{\"training_file\": \"$FILE\", \"model\": \"gpt-4o-mini\", \"team\": \"demo\", \"launched_by\": \"you\"}"
curl -s -H "$H" -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' $API/v1/jobs \
     -d "{\"training_file\": \"$FILE\", \"model\": \"gpt-4o-mini\", \"team\": \"demo\", \"launched_by\": \"you\"}"

# 3. about 15 seconds later it has succeeded: actual cost beside the estimate
curl -s -H "$H" "$API/v1/jobs?team=demo"

# 4. what finance reads: the spend report and its CSV (this year; without from/to: this month)
Y=$(date +%Y)
curl -s -H "$H" "$API/v1/reports/training-spend?from=$Y-01-01&to=$Y-12-31&group_by=team"
curl -s -H "$H" "$API/v1/reports/training-spend.csv?from=$Y-01-01&to=$Y-12-31&group_by=month"

# 5. the same as pictures: open http://127.0.0.1:8000/ui and sign in with the printed key
#    (spend, the fine-tuned models' countdown and migration, the pools, the demo job, prices)
