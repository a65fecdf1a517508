from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class ConsolePagination(PageNumberPagination):
    """Statsig Console API style: {"message", "data", "pagination"} with ?page=&limit=."""

    page_query_param = "page"
    page_size_query_param = "limit"
    max_page_size = 500

    def get_paginated_response(self, data):
        page = self.page
        return Response(
            {
                "message": "OK",
                "data": data,
                "pagination": {
                    "itemsPerPage": page.paginator.per_page,
                    "pageNumber": page.number,
                    "totalItems": page.paginator.count,
                    "nextPage": self.get_next_link(),
                    "previousPage": self.get_previous_link(),
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["message", "data", "pagination"],
            "properties": {
                "message": {"type": "string"},
                "data": schema,
                "pagination": {"$ref": "#/components/schemas/Pagination"},
            },
        }
