"""Impact preview (`cds rules diff`): two rulebooks evaluated on one corpus (request files, or evaluations
recorded with CDS_RECORD_FACTS), and what changed per rule."""
