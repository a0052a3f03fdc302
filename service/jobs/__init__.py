"""Fine-tuning jobs: launch with an estimate and a budget check, watch until done, actual cost."""
