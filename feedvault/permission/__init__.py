"""What may be kept: the permission decision table, publisher signals (robots, TDMRep, AIPREF, notices) and takedown."""
