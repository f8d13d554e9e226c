"""The Train page's logic: its setup as plain data (forms) and the classroom presets."""
