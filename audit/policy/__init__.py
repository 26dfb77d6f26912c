"""The policy set: catalog loading and validation, signature examples, drafts."""
