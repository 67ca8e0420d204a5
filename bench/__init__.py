"""`cds bench`: the service measured over HTTP against the FastAPI floor, and in-process by stage."""
