from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination (stable under inserts); views name their unique `cursor_ordering`."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
