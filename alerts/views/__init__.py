"""Portal pages of the alerts app: the queue and incidents, alerts, hunts, intake sources."""
