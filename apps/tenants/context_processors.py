from django.http import HttpRequest


def tenant(request: HttpRequest) -> dict:
    current = getattr(request, "tenant", None)
    if current is None or current.is_public:
        return {"brand": {"name": "Warden", "colour": "#1f4f8f", "logo": ""}, "tenant": None}
    return {
        "tenant": current,
        "brand": {"name": current.brand_name, "colour": current.primary_colour, "logo": current.logo},
    }
