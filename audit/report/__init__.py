"""Reports: the data every format states, HTML/PDF, JSON/CSV/JUnit, the review queue."""
