"""Results from the customer's warehouse (warehouse-native, docs/warehouse.md): a project's
connections to a PostgreSQL or Redshift warehouse, the assignment sources an experiment can
take its exposures from and the metric sources metrics can be defined over."""
