"""Lightning training of teacher, student (cross-modal distillation) and baselines."""
