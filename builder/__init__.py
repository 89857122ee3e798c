"""The REFED pipeline: seed loading and the stages that turn references into records."""
