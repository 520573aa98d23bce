"""Prices per model: the organization API, manage.py and the admin, all through
price_set, and every bad amount refused."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orgs.tests.factories import OrganizationFactory
from orgs.tests.test_api_base import admin_key_api, error, member, not_found, user_api
from usage.models import ModelPrice
from usage.tests.factories import ModelPriceFactory

pytestmark = pytest.mark.django_db


def test_an_owner_sets_changes_lists_and_deletes_an_organization_price(organization):
    api = admin_key_api(organization)
    created = api.post(
        "/model_prices",
        {"model": "jan-v1-4b", "input_per_million": 0.15, "output_per_million": "0.6"},
    )
    assert created.status_code == 200
    body = created.json()
    price = ModelPrice.objects.get()
    assert body == {
        "object": "organization.model_price",
        "id": price.public_id,
        "model": "jan-v1-4b",
        "input_per_million": "0.150000",
        "output_per_million": "0.600000",
        "currency": "usd",
        "created_at": int(price.created_at.timestamp()),
        "updated_at": int(price.updated_at.timestamp()),
    }
    assert price.organization == organization
    # Setting the same model again changes the price in place.
    again = api.post(
        "/model_prices",
        {"model": "jan-v1-4b", "input_per_million": 1, "output_per_million": 2},
    ).json()
    assert again["id"] == price.public_id
    changed = api.post(f"/model_prices/{price.public_id}", {"output_per_million": 3})
    assert changed.json()["output_per_million"] == "3.000000"
    assert changed.json()["input_per_million"] == "1.000000"
    listed = api.get("/model_prices").json()
    assert [p["id"] for p in listed["data"]] == [price.public_id]
    assert api.get(f"/model_prices/{price.public_id}").json()["model"] == "jan-v1-4b"
    deleted = api.delete(f"/model_prices/{price.public_id}")
    assert deleted.json() == {
        "object": "organization.model_price.deleted",
        "id": price.public_id,
        "deleted": True,
    }
    assert not ModelPrice.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_per_million", -1, "input_per_million must not be negative."),
        ("input_per_million", "abc", "input_per_million must be a number."),
        ("input_per_million", "NaN", "input_per_million must be a finite number."),
        (
            "output_per_million",
            "Infinity",
            "output_per_million must be a finite number.",
        ),
        ("output_per_million", True, "output_per_million must be a number."),
        ("output_per_million", [1], "output_per_million must be a number."),
        ("output_per_million", None, "This field may not be null."),
        (
            "input_per_million",
            "0.0000001",
            "input_per_million has more than 6 decimals.",
        ),
        (
            "input_per_million",
            10**7,
            "input_per_million must be at most 999999.999999.",
        ),
    ],
)
def test_bad_amounts_are_400_and_store_nothing(organization, field, value, message):
    body = {"model": "m", "input_per_million": 1, "output_per_million": 1}
    response = admin_key_api(organization).post("/model_prices", {**body, field: value})
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error", "invalid_value", message, field
    )
    assert not ModelPrice.objects.exists()


def test_a_missing_model_or_amount_is_400(organization):
    response = admin_key_api(organization).post("/model_prices", {"model": "m"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input_per_million"


def test_another_organizations_or_a_global_price_is_404(organization):
    foreign = ModelPriceFactory(organization=OrganizationFactory())
    common = ModelPriceFactory()
    api = admin_key_api(organization)
    for price in (foreign, common):
        response = api.get(f"/model_prices/{price.public_id}")
        assert response.status_code == 404
        assert response.json() == not_found("price", price.public_id, "price_id")
        assert api.delete(f"/model_prices/{price.public_id}").status_code == 404
    assert api.get("/model_prices").json()["data"] == []


def test_readers_read_prices_and_cannot_set_them(organization):
    ModelPriceFactory(organization=organization)
    reader = user_api(member(organization, "reader"), organization)
    assert len(reader.get("/model_prices").json()["data"]) == 1
    body = {"model": "m", "input_per_million": 1, "output_per_million": 1}
    assert reader.post("/model_prices", body).status_code == 403


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_setprice_sets_global_and_organization_prices(organization):
    text = run("setprice", "jan-v1-4b", "--input", "0.1", "--output", "0.4")
    assert text.startswith("jan-v1-4b: $0.1 input, $0.4 output")
    own = json.loads(
        run(
            "setprice",
            "jan-v1-4b",
            "--input",
            "1",
            "--output",
            "2",
            "--org",
            organization.public_id,
            "--json",
        )
    )
    assert own["org"] == organization.public_id
    prices = {
        (p.organization_id, p.input_per_million) for p in ModelPrice.objects.all()
    }
    assert prices == {(None, Decimal("0.1")), (organization.pk, Decimal("1"))}
    listed = json.loads(run("listprices", "--json"))
    assert [p["model"] for p in listed] == ["jan-v1-4b"]
    assert "jan-v1-4b" in run("listprices", "--org", organization.public_id)


def test_setprice_refuses_bad_amounts_in_one_line():
    with pytest.raises(
        CommandError, match=r"^input_per_million must not be negative\.$"
    ):
        run("setprice", "m", "--input", "-1", "--output", "1")
    assert not ModelPrice.objects.exists()


def test_the_admin_adds_a_price_through_the_service(admin_client, organization):
    response = admin_client.post(
        "/admin/usage/modelprice/add/",
        {
            "model": "jan-v1-4b",
            "organization": "",
            "input_per_million": "0.5",
            "output_per_million": "1.5",
        },
    )
    assert response.status_code == 302
    price = ModelPrice.objects.get()
    assert (price.organization, price.output_per_million) == (None, Decimal("1.5"))
    bad = admin_client.post(
        "/admin/usage/modelprice/add/",
        {
            "model": "other",
            "organization": "",
            "input_per_million": "-1",
            "output_per_million": "1",
        },
    )
    assert bad.status_code == 200  # the form again, with the error
    assert ModelPrice.objects.count() == 1
    assert admin_client.get("/admin/usage/modelprice/").status_code == 200
    assert admin_client.get("/admin/usage/monthlyspend/").status_code == 200
