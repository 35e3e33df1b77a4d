"""keypin's Lambda code: settings, signing keys, tokens, users, sessions and HTTP errors."""
