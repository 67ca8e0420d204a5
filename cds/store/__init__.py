"""The service's store: the card log, clinicians' feedback and the JWT replay cache in one database
(SQLite by default, PostgreSQL by URL), its schema made by the migrations."""
