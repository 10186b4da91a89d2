"""Demo data builders and the small reference tables OneMap ships."""
