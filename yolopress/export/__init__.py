"""Export checkpoints to deployment formats: one module per format, one ``export`` stage."""
