"""Break-glass access: an officer or administrator reads one file outside their scope for a limited
time after giving a reason; audited, and the supervisors are told."""
