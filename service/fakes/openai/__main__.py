"""``python -m service.fakes.openai --port 8765 [--file data.jsonl]``."""

from service.fakes.openai.app import main

main()
