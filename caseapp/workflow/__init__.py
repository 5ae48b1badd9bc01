"""The case workflow: rule sets (the law as data), step records, phases and their guards."""
