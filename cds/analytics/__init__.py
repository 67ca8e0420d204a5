"""Card-log analytics: how often each rule fires and how clinicians answer its cards."""
