"""Fix the causes of Exchange Online 5.7.x bounces: safely, repeatably, on the record."""

__all__: list[str] = []
