"""$select, $filter, $orderby, $top, $count and paging (reference sections 3 and 4)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from .conftest import Api, error_of


@pytest.fixture
def people(api: Api) -> dict[str, str]:
    created = api.seed({"contacts": [
        {"firstname": "Ada", "lastname": "Lovelace", "emailaddress1": "Ada@Example.com"},
        {"firstname": "Grace", "lastname": "Hopper", "emailaddress1": "grace@navy.mil", "donotemail": True},
        {"firstname": "Tim", "lastname": "O'Brien", "emailaddress1": "o'brien@x.com"},
        {"firstname": "Alan", "lastname": "Turing", "emailaddress1": None, "statecode": 1, "statuscode": 2},
        {"firstname": "100%", "lastname": "Sure", "emailaddress1": "percent@x.com",
         "createdon": "2020-01-01T00:00:00Z"},
    ]})
    names = ["ada", "grace", "tim", "alan", "sure"]
    return dict(zip(names, created["contacts"], strict=True))


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["lastname"] for row in response.json()["value"]]


def test_when_select_is_given_rows_hold_those_columns_plus_etag_and_key(api: Api, people: dict[str, str]) -> None:
    body = api.get("contacts?$select=firstname&$top=1").json()
    assert body["@odata.context"].endswith("$metadata#contacts(firstname)")
    assert set(body["value"][0]) == {"@odata.etag", "firstname", "contactid"}


def test_when_select_names_an_unknown_column_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    response = api.get("contacts?$select=Name")
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "0x0", "message": "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.contact'."}


def test_when_filter_compares_strings_it_ignores_case(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$filter=emailaddress1 eq 'ada@example.com'")) == ["Lovelace"]
    assert names(api.get("contacts?$filter=lastname eq 'LOVELACE'")) == ["Lovelace"]


def test_when_a_literal_doubles_a_quote_it_matches_the_quote(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$filter=emailaddress1 eq 'o''brien@x.com'")) == ["O'Brien"]


def test_when_a_literal_is_unterminated_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    assert api.get("contacts?$filter=lastname eq 'O'Brien'").status_code == 400


def test_when_filter_uses_null_it_means_missing(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$filter=emailaddress1 eq null")) == ["Turing"]
    assert len(names(api.get("contacts?$filter=emailaddress1 ne null"))) == 4


def test_when_filter_combines_and_or_not_and_parentheses(api: Api, people: dict[str, str]) -> None:
    query = "contacts?$filter=(firstname eq 'Ada' or firstname eq 'Grace') and not (donotemail eq true)"
    assert names(api.get(query)) == ["Lovelace"]
    assert sorted(names(api.get("contacts?$filter=statecode eq 0 and donotemail eq false"))) == [
        "Lovelace", "O'Brien", "Sure"]


def test_when_filter_uses_string_functions_they_match_case_insensitively(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$filter=contains(emailaddress1,'NAVY')")) == ["Hopper"]
    assert names(api.get("contacts?$filter=startswith(lastname,'lov')")) == ["Lovelace"]
    assert names(api.get("contacts?$filter=endswith(emailaddress1,'.mil')")) == ["Hopper"]
    assert len(names(api.get("contacts?$filter=not contains(emailaddress1,'x.com')"))) == 2


def test_when_a_string_function_value_holds_wildcards_they_act_like_sql(api: Api, people: dict[str, str]) -> None:
    assert sorted(names(api.get("contacts?$filter=contains(emailaddress1,'o_b')"))) == ["O'Brien"]
    assert names(api.get("contacts?$filter=startswith(lastname,'[h]op')")) == ["Hopper"]
    assert names(api.get("contacts?$filter=startswith(firstname,'100[%]')")) == ["Sure"]
    assert sorted(names(api.get("contacts?$filter=startswith(lastname,'[^lht]')"))) == ["O'Brien", "Sure"]


@pytest.mark.parametrize(("function", "value", "expected"), [
    ("startswith", "100[%]", ["Sure"]),       # a bracketed wildcard is literal
    ("startswith", "100%", ["Sure"]),         # `%` is any run of characters
    ("startswith", "1[0-1]0", ["Sure"]),      # a range
    ("startswith", "[^a-z]", ["Sure"]),       # a negated range: the name starts with a digit
    ("contains", "''[_]", []),                # `_` in brackets is literal (there is no `'_` anywhere)
    ("contains", "o''_r", ["O'Brien"]),       # `_` alone is one character
    ("contains", "[[]", []),                  # `[` in brackets is literal
])
def test_when_like_patterns_use_classes_and_brackets_they_follow_sql_server(
        api: Api, people: dict[str, str], function: str, value: str, expected: list[str]) -> None:
    expression = f"{function}(firstname,'{value}') or {function}(emailaddress1,'{value}')"
    assert names(api.get(f"contacts?$filter={quote(expression)}")) == expected


def test_when_a_bracket_is_literal_in_the_data_it_matches_only_when_escaped(api: Api) -> None:
    api.seed({"contacts": [{"lastname": "[VIP] Ada"}, {"lastname": "V Ada"}]})
    assert names(api.get("contacts?$filter=startswith(lastname,'[[]VIP]')")) == ["[VIP] Ada"]
    assert names(api.get("contacts?$filter=startswith(lastname,'[VIP]')")) == ["V Ada"]


def test_when_a_plus_is_not_percent_encoded_it_arrives_as_a_space(api: Api) -> None:
    api.seed({"contacts": [{"lastname": "Plus", "emailaddress1": "a+b@x.com"},
                           {"lastname": "Space", "emailaddress1": "a b@x.com"}]})
    assert names(api.get("contacts?$filter=emailaddress1 eq 'a+b@x.com'")) == ["Space"]
    assert names(api.get("contacts?$filter=emailaddress1 eq 'a%2Bb@x.com'")) == ["Plus"]


@pytest.mark.parametrize("expression", [
    "tolower(lastname) eq 'hopper'", "substringof('op',lastname)", "length(lastname) eq 6",
    "indexof(lastname,'o') eq 1", "lastname in ('Hopper')",
])
def test_when_a_function_other_than_the_three_string_functions_is_used_the_answer_is_400(
        api: Api, people: dict[str, str], expression: str) -> None:
    response = api.get(f"contacts?$filter={expression}")
    assert response.status_code == 400
    assert set(error_of(response)) == {"code", "message"}


def test_when_in_string_values_pass_850_characters_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    def query(values: list[str]) -> str:
        listed = ",".join(f"'{v}'" for v in values)
        return f"contacts?$filter=Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=[{listed}])"

    fits = ["grace@navy.mil", "x" * (850 - len("grace@navy.mil") - 1)]
    assert names(api.get(query(fits))) == ["Hopper"]
    response = api.get(query([*fits[:1], fits[1] + "x"]))
    assert response.status_code == 400
    assert "850" in error_of(response)["message"]


def test_when_filter_compares_guids_and_dates_unquoted(api: Api, people: dict[str, str]) -> None:
    assert names(api.get(f"contacts?$filter=contactid eq {people['grace']}")) == ["Hopper"]
    assert names(api.get("contacts?$filter=createdon lt 2021-01-01T00:00:00Z")) == ["Sure"]
    assert names(api.get("contacts?$filter=createdon lt 2021-01-01")) == ["Sure"]


def test_when_filter_compares_a_lookup_value_it_uses_the_guid(api: Api) -> None:
    account = api.create("accounts", {"name": "Contoso"})
    api.create("contacts", {"lastname": "Linked", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    api.create("contacts", {"lastname": "Alone"})
    assert names(api.get(f"contacts?$filter=_parentcustomerid_value eq {account}")) == ["Linked"]
    assert names(api.get(f"contacts?$filter=_parentcustomerid_value eq '{account}'")) == ["Linked"]
    assert names(api.get("contacts?$filter=parentcustomerid_account/name eq 'contoso'")) == ["Linked"]


def test_when_filter_names_an_unknown_column_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    response = api.get("contacts?$filter=Emailaddress1 eq 'x'")
    assert response.status_code == 400
    assert "Could not find a property named 'Emailaddress1'" in error_of(response)["message"]


def test_when_filter_compares_incompatible_types_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    assert api.get("contacts?$filter=lastname eq 5").status_code == 400


def test_when_in_is_used_both_array_forms_work(api: Api, people: dict[str, str]) -> None:
    single = "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=['grace@navy.mil','o''brien@x.com'])"
    double = 'Microsoft.Dynamics.CRM.In(PropertyName=\'emailaddress1\',PropertyValues=["GRACE@navy.mil","o\'brien@x.com"])'
    assert sorted(names(api.get(f"contacts?$filter={single}"))) == ["Hopper", "O'Brien"]
    assert sorted(names(api.get(f"contacts?$filter={double}"))) == ["Hopper", "O'Brien"]
    not_in = "Microsoft.Dynamics.CRM.NotIn(PropertyName='lastname',PropertyValues=['Hopper','Sure'])"
    assert sorted(names(api.get(f"contacts?$filter={not_in}"))) == ["Lovelace", "O'Brien", "Turing"]


def test_when_a_filter_has_more_than_500_conditions_the_answer_is_400(api: Api, people: dict[str, str]) -> None:
    many = " or ".join(f"lastname eq 'n{i}'" for i in range(501))
    response = api.post("$batch", data=_batch_get(f"contacts?$filter={many}"),
                        headers={"Content-Type": "multipart/mixed; boundary=b1"})
    assert response.status_code == 400
    assert "0x8004430C" in response.text
    fine = " or ".join(f"lastname eq 'n{i}'" for i in range(500))
    assert api.get(f"contacts?$filter={fine}").status_code == 200


def _batch_get(path: str) -> str:
    return f"--b1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {path.replace(' ', '%20')} HTTP/1.1\r\n\r\n\r\n--b1--\r\n"


def test_when_parameter_aliases_are_used_they_are_substituted(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$filter=@p1 eq @p2&@p1=lastname&@p2='Hopper'")) == ["Hopper"]
    assert names(api.get("contacts?$filter=emailaddress1 eq @missing")) == ["Turing"]


def test_when_orderby_is_given_rows_are_sorted(api: Api, people: dict[str, str]) -> None:
    assert names(api.get("contacts?$orderby=lastname desc")) == ["Turing", "Sure", "O'Brien", "Lovelace", "Hopper"]
    assert names(api.get("contacts?$orderby=statecode desc,firstname asc"))[0] == "Turing"
    assert names(api.get("contacts?$orderby=emailaddress1"))[0] == "Turing"


def test_when_no_orderby_is_given_rows_come_in_primary_key_order(api: Api) -> None:
    # SQL Server orders uniqueidentifier by its last group first: string order would be the reverse.
    ids = ["00000000-0000-0000-0000-000000000003", "ffffffff-0000-0000-0000-000000000001",
           "88888888-0000-0000-0000-000000000002"]
    api.seed({"contacts": [{"contactid": i, "lastname": i[:2]} for i in ids]})
    expected = [ids[1], ids[2], ids[0]]
    assert [r["contactid"] for r in api.get("contacts?$select=contactid").json()["value"]] == expected
    paged = api.get("contacts?$select=contactid", headers={"Prefer": "odata.maxpagesize=2"}).json()
    rest = api.get(paged["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert [r["contactid"] for r in paged["value"] + rest["value"]] == expected


def test_when_a_key_is_compared_with_gt_the_order_is_the_one_orderby_uses(api: Api) -> None:
    # Keyset paging (`<key> gt <last>` ordered by the key) needs `gt` to follow SQL Server's order.
    ids = ["00000000-0000-0000-0000-000000000003", "ffffffff-0000-0000-0000-000000000001",
           "88888888-0000-0000-0000-000000000002", "11111111-0000-0000-0000-000000000002"]
    api.seed({"contacts": [{"contactid": i, "lastname": i[:2]} for i in ids]})
    ordered = [r["contactid"] for r in api.get("contacts?$select=contactid&$orderby=contactid asc").json()["value"]]
    assert ordered == [ids[1], ids[3], ids[2], ids[0]]
    after = api.get(f"contacts?$select=contactid&$orderby=contactid&$filter=contactid gt {ordered[1]}").json()
    assert [r["contactid"] for r in after["value"]] == ordered[2:]
    before = api.get(f"contacts?$select=contactid&$filter=contactid le {ordered[1]}").json()
    assert [r["contactid"] for r in before["value"]] == ordered[:2]


def test_when_top_is_given_it_limits_rows_without_a_next_link(api: Api, people: dict[str, str]) -> None:
    body = api.get("contacts?$top=2&$orderby=lastname").json()
    assert [r["lastname"] for r in body["value"]] == ["Hopper", "Lovelace"]
    assert "@odata.nextLink" not in body


def test_when_count_is_true_the_count_covers_all_matches(api: Api, people: dict[str, str]) -> None:
    body = api.get("contacts?$count=true&$top=1&$filter=statecode eq 0").json()
    assert body["@odata.count"] == 4
    assert len(body["value"]) == 1


def test_when_maxpagesize_is_preferred_pages_follow_next_links(api: Api) -> None:
    api.seed({"leads": [{"lastname": f"L{i:02d}"} for i in range(7)]})
    headers = {"Prefer": "odata.maxpagesize=3"}
    url: str | None = "leads?$select=lastname&$orderby=lastname&$count=true"
    seen: list[str] = []
    pages = 0
    while url:
        response = api.get(url, headers=headers)
        assert response.status_code == 200
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=3"
        body = response.json()
        assert body["@odata.count"] == 7
        seen += [r["lastname"] for r in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
        if url:
            assert url.startswith(api.base + "leads?")
            query = parse_qs(urlsplit(url).query)
            assert query["$select"] == ["lastname"] and query["$orderby"] == ["lastname"]
            cookie = query["$skiptoken"][0]
            assert cookie.startswith('<cookie pagenumber="') and 'pagingcookie="' in cookie
            assert 'istracking="False"' in cookie
    assert pages == 3
    assert seen == [f"L{i:02d}" for i in range(7)]


def test_when_paging_by_primary_key_rows_added_meanwhile_do_not_repeat_rows(api: Api) -> None:
    api.seed({"leads": [{"lastname": f"L{i}"} for i in range(4)]})
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = api.get("leads?$select=leadid", headers=headers).json()
    api.create("leads", {"lastname": "late"})
    ids = [r["leadid"] for r in first["value"]]
    url = first["@odata.nextLink"]
    while url:
        body = api.get(url, headers=headers).json()
        ids += [r["leadid"] for r in body["value"]]
        url = body.get("@odata.nextLink")
    assert len(ids) == len(set(ids))


def test_when_maxpagesize_exceeds_5000_it_is_capped(api: Api) -> None:
    response = api.get("leads", headers={"Prefer": "odata.maxpagesize=9000"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=5000"


def test_when_count_exceeds_5000_it_is_capped(api: Api) -> None:
    api.seed({"tasks": [{"subject": f"t{i}"} for i in range(5003)]})
    body = api.get("tasks?$select=subject&$count=true").json()
    assert body["@odata.count"] == 5000
    assert len(body["value"]) == 5000
    assert "@odata.nextLink" in body
    assert api.get("tasks/$count").content.decode("utf-8-sig") == "5000"


def test_when_total_count_annotations_are_asked_for_they_are_returned(api: Api, people: dict[str, str]) -> None:
    prefer = 'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
    body = api.get("contacts?$count=true", headers={"Prefer": prefer}).json()
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False


def test_when_filtering_on_a_related_collection_any_works(api: Api) -> None:
    lead_a = api.create("leads", {"lastname": "WithTask"})
    api.create("leads", {"lastname": "NoTask"})
    api.create("tasks", {"subject": "Call", "regardingobjectid_lead_task@odata.bind": f"/leads({lead_a})"})
    assert names(api.get("leads?$filter=Lead_Tasks/any(t:t/subject eq 'call')")) == ["WithTask"]


def test_when_dataverse_date_functions_are_used_they_filter(api: Api, people: dict[str, str]) -> None:
    assert len(names(api.get("contacts?$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=1)"))) == 4
    assert names(api.get("contacts?$filter=Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2020-01-01')")) == ["Sure"]


def test_when_a_filter_names_keys_the_other_conditions_still_hold(api: Api, people: dict[str, str]) -> None:
    # A filter naming keys reads those rows only (as Dataverse's key index); the answer is the
    # same as a full scan's: every other condition still applies, and an OR with a non-key
    # condition reads every row.
    keys = ",".join(f'"{people[n]}"' for n in ("ada", "alan", "grace"))
    in_keys = f"Microsoft.Dynamics.CRM.In(PropertyName='contactid',PropertyValues=[{keys}])"
    assert names(api.get(f"contacts?$filter={in_keys}&$orderby=lastname")) == ["Hopper", "Lovelace", "Turing"]
    assert names(api.get(f"contacts?$filter={in_keys} and statecode eq 0&$orderby=lastname")) == [
        "Hopper", "Lovelace"]
    assert names(api.get(f"contacts?$filter={in_keys} or lastname eq 'Sure'&$orderby=lastname")) == [
        "Hopper", "Lovelace", "Sure", "Turing"]
    assert names(api.get(f"contacts?$filter=contactid eq {people['tim']} or contactid eq {people['ada']}"
                         "&$orderby=lastname")) == ["Lovelace", "O'Brien"]
    assert names(api.get(f"contacts?$filter=contactid eq {people['tim']} and contactid eq {people['ada']}")) == []
    assert names(api.get("contacts?$filter=contactid eq 00000000-0000-0000-0000-000000000001")) == []
