"""City services built on the hub's public API (exam-result recognition, booking, prescriptions)."""
