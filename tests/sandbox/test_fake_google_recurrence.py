"""Recurring events in the Google emulator, through the real clients.

google-api-python-client drives events.insert/list/instances/get/patch/delete and freeBusy
as an app does; gcsa and gcal_sync, which parse what Google returns (gcal_sync even
expands recurring events itself from a synced store), read the same series and must see
the same instances.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import gcal_sync.api
import gcal_sync.model
import gcal_sync.sync
import pytest
from gcsa.event import Event as GcsaEvent
from gcsa.google_calendar import GoogleCalendar
from gcsa.recurrence import MO, WEEKLY, Recurrence

import sandbox.fake_google as fake_google_module
from sandbox.fake_google import FakeGoogle
from sandbox.google_recurrence import instance_id
from tests.sandbox.test_fake_google import (
    CALENDAR,
    FREEBUSY,
    StaticTokenAuth,
    credentials,
    http_error,
    in_thread,
    reasons,
    service,
)

NEW_YORK = "America/New_York"
NY = ZoneInfo(NEW_YORK)
ORGANIZER = "studio@example.com"
ALICE = "alice@example.com"


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def local(moment: datetime) -> dict[str, str]:
    """An event time as a client writes it: wall clock and zone."""
    return {"dateTime": moment.replace(tzinfo=None).isoformat(), "timeZone": NEW_YORK}


def api_for(fake: FakeGoogle, email: str = ORGANIZER) -> Any:
    fake.add_account(email, time_zone=NEW_YORK)
    return service(fake, credentials(fake, email, [CALENDAR, FREEBUSY]))


async def insert(api: Any, **body: Any) -> dict[str, Any]:
    event: dict[str, Any] = await in_thread(
        lambda: api.events().insert(calendarId="primary", body=body).execute()
    )
    return event


async def listed(api: Any, **params: Any) -> list[dict[str, Any]]:
    """Every page of events.list."""

    def every_page() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request = api.events().list(calendarId="primary", **params)
        while request is not None:
            page = request.execute()
            items += page["items"]
            request = api.events().list_next(request, page)
        return items

    return await in_thread(every_page)


async def busy(api: Any, time_min: datetime, time_max: datetime) -> list[tuple[str, str]]:
    body = {
        "timeMin": time_min.isoformat(),
        "timeMax": time_max.isoformat(),
        "timeZone": NEW_YORK,
        "items": [{"id": "primary"}],
    }
    answer = await in_thread(lambda: api.freebusy().query(body=body).execute())
    return [(b["start"], b["end"]) for b in answer["calendars"]["primary"]["busy"]]


def starts(events: list[dict[str, Any]]) -> list[str]:
    return [e["start"].get("dateTime") or e["start"]["date"] for e in events]


# --- expansion ---------------------------------------------------------------------


async def test_a_weekly_meeting_keeps_its_local_time_when_the_clocks_change(
    fake_google: FakeGoogle,
) -> None:
    api = api_for(fake_google)
    monday = date(2030, 3, 4)  # New York springs forward on Sunday the 10th
    meeting = await insert(
        api,
        summary="Team meeting",
        start=local(ny(monday, 9)),
        end=local(ny(monday, 10)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"],
        attendees=[{"email": "client@elsewhere.com"}],
    )
    window = {"timeMin": "2030-03-01T00:00:00Z", "timeMax": "2030-04-01T00:00:00Z"}

    instances = await listed(api, singleEvents=True, orderBy="startTime", **window)
    masters = await listed(api, **window)

    assert starts(instances) == [
        "2030-03-04T09:00:00-05:00",
        "2030-03-06T09:00:00-05:00",
        "2030-03-11T09:00:00-04:00",  # still 09:00 in New York: an hour earlier in UTC
        "2030-03-13T09:00:00-04:00",
    ]
    first, _, third, _ = instances
    assert first["id"] == f"{meeting['id']}_20300304T140000Z"
    assert third["id"] == f"{meeting['id']}_20300311T130000Z"
    assert third["recurringEventId"] == meeting["id"]
    assert third["originalStartTime"] == {
        "dateTime": "2030-03-11T09:00:00-04:00",
        "timeZone": NEW_YORK,
    }
    assert third["end"] == {"dateTime": "2030-03-11T10:00:00-04:00", "timeZone": NEW_YORK}
    assert third["summary"] == "Team meeting" and third["iCalUID"] == meeting["iCalUID"]
    assert third["attendees"] == meeting["attendees"] and "recurrence" not in third
    assert [m["id"] for m in masters] == [meeting["id"]]
    assert masters[0]["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"]
    assert await busy(api, ny(monday, 0), ny(monday, 0) + timedelta(days=14)) == [
        ("2030-03-04T09:00:00-05:00", "2030-03-04T10:00:00-05:00"),
        ("2030-03-06T09:00:00-05:00", "2030-03-06T10:00:00-05:00"),
        ("2030-03-11T09:00:00-04:00", "2030-03-11T10:00:00-04:00"),
        ("2030-03-13T09:00:00-04:00", "2030-03-13T10:00:00-04:00"),
    ]


async def test_half_hour_zones_and_a_half_hour_clock_change(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    friday = date(2030, 10, 4)  # Lord Howe moves its clocks on by 30 minutes on Sunday the 6th
    zones = {"Lord Howe": "Australia/Lord_Howe", "Kolkata": "Asia/Kolkata"}
    series = {}
    for summary, zone in zones.items():
        times = {
            which: {"dateTime": f"2030-10-04T{hour}:00:00", "timeZone": zone}
            for which, hour in (("start", "09"), ("end", "10"))
        }
        series[summary] = await insert(
            api, summary=summary, recurrence=["RRULE:FREQ=DAILY;COUNT=4"], **times
        )
    lord_howe = series["Lord Howe"]["id"]

    instances = await listed(api, singleEvents=True, orderBy="startTime")
    sunday = await in_thread(
        lambda: (
            api.events()
            .get(calendarId="primary", eventId=f"{lord_howe}_20301005T220000Z")
            .execute()
        )
    )

    assert [(e["id"].split("_")[1], e["start"]["dateTime"]) for e in instances] == [
        ("20301003T223000Z", "2030-10-04T09:00:00+10:30"),
        ("20301004T033000Z", "2030-10-04T09:00:00+05:30"),
        ("20301004T223000Z", "2030-10-05T09:00:00+10:30"),
        ("20301005T033000Z", "2030-10-05T09:00:00+05:30"),
        ("20301005T220000Z", "2030-10-06T09:00:00+11:00"),
        ("20301006T033000Z", "2030-10-06T09:00:00+05:30"),
        ("20301006T220000Z", "2030-10-07T09:00:00+11:00"),
        ("20301007T033000Z", "2030-10-07T09:00:00+05:30"),
    ]
    assert sunday["start"] == {
        "dateTime": "2030-10-06T09:00:00+11:00",
        "timeZone": "Australia/Lord_Howe",
    }
    assert friday.isoformat() == instances[0]["originalStartTime"]["dateTime"][:10]


async def test_count_and_until_end_a_series(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    rules = {
        "count": "RRULE:FREQ=DAILY;COUNT=3",
        "until utc": "RRULE:FREQ=DAILY;UNTIL=20300606T130000Z",  # 09:00 New York, included
        "until a day": "RRULE:FREQ=DAILY;UNTIL=20300605",  # that whole day included
        "until by gcsa": Recurrence.rule(freq="DAILY", until=date(2030, 6, 5)),
    }
    for summary, rule in rules.items():
        await insert(
            api,
            summary=summary,
            start=local(ny(monday, 9)),
            end=local(ny(monday, 9, 30)),
            recurrence=[rule],
        )

    instances = await listed(
        api, singleEvents=True, timeMin="2030-06-01T00:00:00Z", timeMax="2030-07-01T00:00:00Z"
    )

    days = {
        summary: [e["start"]["dateTime"][:10] for e in instances if e["summary"] == summary]
        for summary in rules
    }
    assert days == {
        "count": ["2030-06-03", "2030-06-04", "2030-06-05"],
        "until utc": ["2030-06-03", "2030-06-04", "2030-06-05", "2030-06-06"],
        "until a day": ["2030-06-03", "2030-06-04", "2030-06-05"],
        # gcsa writes the date as midnight UTC: 20:00 the evening before in New York.
        "until by gcsa": ["2030-06-03", "2030-06-04"],
    }


async def test_exdates_in_every_form_remove_their_instances(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    await insert(
        api,
        summary="Class",
        start=local(ny(monday, 18)),
        end=local(ny(monday, 19)),
        recurrence=[
            "RRULE:FREQ=WEEKLY;BYDAY=MO",
            "EXDATE;TZID=America/New_York:20300610T180000",
            "EXDATE:20300617T220000Z",  # 18:00 in New York, in UTC
            "exdate;value=date:20300624",  # any case; a date is that day's instance
            "RDATE;TZID=America/New_York:20300605T180000",  # an extra Wednesday
        ],
    )

    instances = await listed(
        api,
        singleEvents=True,
        orderBy="startTime",
        timeMin="2030-06-01T00:00:00Z",
        timeMax="2030-07-09T00:00:00Z",
    )

    assert starts(instances) == [
        "2030-06-03T18:00:00-04:00",
        "2030-06-05T18:00:00-04:00",
        "2030-07-01T18:00:00-04:00",
        "2030-07-08T18:00:00-04:00",
    ]


async def test_the_first_day_is_an_instance_even_off_the_rule(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    await insert(
        api,
        start=local(ny(monday, 9)),
        end=local(ny(monday, 10)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=2"],
    )

    instances = await listed(api, singleEvents=True, orderBy="startTime")

    assert [s[:10] for s in starts(instances)] == ["2030-06-03", "2030-06-04", "2030-06-06"]


async def test_all_day_series_repeat_whole_days(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    event = await insert(
        api,
        summary="Gym",
        start={"date": "2030-06-03"},
        end={"date": "2030-06-04"},
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;VALUE=DATE:20300610"],
    )

    instances = await listed(api, singleEvents=True, orderBy="startTime")
    second = await in_thread(
        lambda: api.events().get(calendarId="primary", eventId=f"{event['id']}_20300617").execute()
    )

    assert [(e["id"], e["start"], e["end"]) for e in instances] == [
        (f"{event['id']}_20300603", {"date": "2030-06-03"}, {"date": "2030-06-04"}),
        (f"{event['id']}_20300617", {"date": "2030-06-17"}, {"date": "2030-06-18"}),
    ]
    assert second["originalStartTime"] == {"date": "2030-06-17"}
    assert second["recurringEventId"] == event["id"]
    day = datetime(2030, 6, 17, tzinfo=NY)
    assert await busy(api, day - timedelta(hours=2), day + timedelta(days=2)) == [
        ("2030-06-17T00:00:00-04:00", "2030-06-18T00:00:00-04:00")
    ]


# --- exceptions ----------------------------------------------------------------------


async def test_an_instance_moved_and_one_cancelled_by_their_ids(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        summary="Standup",
        start=local(ny(monday, 9)),
        end=local(ny(monday, 9, 30)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    moved_id = instance_id(series["id"], ny(monday + timedelta(days=7), 9))
    cancelled_id = instance_id(series["id"], ny(monday + timedelta(days=14), 9))
    tuesday = monday + timedelta(days=8)
    changes = {"start": local(ny(tuesday, 11)), "end": local(ny(tuesday, 11, 30))}

    moved = await in_thread(
        lambda: api.events().patch(calendarId="primary", eventId=moved_id, body=changes).execute()
    )
    await in_thread(
        lambda: api.events().delete(calendarId="primary", eventId=cancelled_id).execute()
    )
    window = {"timeMin": "2030-06-01T00:00:00Z", "timeMax": "2030-06-30T00:00:00Z"}
    instances = await listed(api, singleEvents=True, orderBy="startTime", **window)
    with_deleted = await listed(api, singleEvents=True, showDeleted=True, **window)
    masters = await listed(api, **window)
    cancelled = await in_thread(
        lambda: api.events().get(calendarId="primary", eventId=cancelled_id).execute()
    )
    again = await http_error(
        lambda: api.events().delete(calendarId="primary", eventId=cancelled_id).execute()
    )

    assert moved["id"] == moved_id and moved["recurringEventId"] == series["id"]
    assert moved["start"] == {"dateTime": "2030-06-11T11:00:00-04:00", "timeZone": NEW_YORK}
    assert moved["originalStartTime"]["dateTime"] == "2030-06-10T09:00:00-04:00"
    assert moved["summary"] == "Standup" and moved["sequence"] == 1
    assert [(e["id"], e["start"]["dateTime"]) for e in instances] == [
        (f"{series['id']}_20300603T130000Z", "2030-06-03T09:00:00-04:00"),
        (moved_id, "2030-06-11T11:00:00-04:00"),
        (f"{series['id']}_20300624T130000Z", "2030-06-24T09:00:00-04:00"),
    ]
    assert {e["id"]: e["status"] for e in with_deleted}[cancelled_id] == "cancelled"
    # Without singleEvents: the series, and its exceptions beside it (Google lists
    # cancelled instances there even without showDeleted).
    assert {(e["id"], e["status"]) for e in masters} == {
        (series["id"], "confirmed"),
        (moved_id, "confirmed"),
        (cancelled_id, "cancelled"),
    }
    assert cancelled["status"] == "cancelled"
    assert again.status_code == 410 and reasons(again) == ["deleted"]
    assert await busy(api, ny(monday, 0), ny(monday, 0) + timedelta(days=22)) == [
        ("2030-06-03T09:00:00-04:00", "2030-06-03T09:30:00-04:00"),
        ("2030-06-11T11:00:00-04:00", "2030-06-11T11:30:00-04:00"),
        ("2030-06-24T09:00:00-04:00", "2030-06-24T09:30:00-04:00"),
    ]


async def test_an_update_of_an_instance_keeps_it_an_instance(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        summary="Standup",
        start=local(ny(monday, 9)),
        end=local(ny(monday, 9, 30)),
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
    )
    wednesday_id = instance_id(series["id"], ny(monday + timedelta(days=2), 9))
    instance = await in_thread(
        lambda: api.events().get(calendarId="primary", eventId=wednesday_id).execute()
    )

    updated = await in_thread(
        lambda: (
            api.events()
            .update(
                calendarId="primary",
                eventId=wednesday_id,
                body=instance | {"summary": "Standup (longer)", "recurrence": None},
            )
            .execute()
        )
    )
    refused = await http_error(
        lambda: (
            api.events()
            .patch(
                calendarId="primary",
                eventId=wednesday_id,
                body={"recurrence": ["RRULE:FREQ=DAILY"]},
            )
            .execute()
        )
    )
    unknown = await http_error(
        lambda: (
            api.events()
            .get(calendarId="primary", eventId=f"{series['id']}_20300603T140000Z")  # 10:00: none
            .execute()
        )
    )

    assert updated["id"] == wednesday_id and updated["summary"] == "Standup (longer)"
    assert updated["recurringEventId"] == series["id"]
    assert updated["originalStartTime"] == instance["originalStartTime"]
    assert refused.status_code == 400
    assert unknown.status_code == 404 and reasons(unknown) == ["notFound"]


async def test_deleting_the_series_cancels_its_exceptions_too(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        start=local(ny(monday, 9)),
        end=local(ny(monday, 10)),
        recurrence=["RRULE:FREQ=DAILY;COUNT=3"],
    )
    moved_id = instance_id(series["id"], ny(monday + timedelta(days=1), 9))
    await in_thread(
        lambda: (
            api.events()
            .patch(calendarId="primary", eventId=moved_id, body={"start": local(ny(monday, 8))})
            .execute()
        )
    )

    await in_thread(
        lambda: api.events().delete(calendarId="primary", eventId=series["id"]).execute()
    )

    assert await listed(api, singleEvents=True) == []
    assert await busy(api, ny(monday, 0), ny(monday, 0) + timedelta(days=5)) == []


# --- events.instances, freeBusy and guests --------------------------------------------


async def test_events_instances_pages_and_filters(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        start=local(ny(monday, 9)),
        end=local(ny(monday, 10)),
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
    )
    third_id = instance_id(series["id"], ny(monday + timedelta(days=2), 9))
    await in_thread(lambda: api.events().delete(calendarId="primary", eventId=third_id).execute())

    def every_page(**params: Any) -> tuple[list[str], int]:
        ids, pages = [], 0
        request = api.events().instances(calendarId="primary", eventId=series["id"], **params)
        while request is not None:
            page = request.execute()
            ids += [f"{e['id']}:{e['status']}" for e in page["items"]]
            pages += 1
            assert "nextSyncToken" not in page
            request = api.events().instances_next(request, page)
        return ids, pages

    paged = await in_thread(lambda: every_page(maxResults=2))
    with_deleted = await in_thread(lambda: every_page(showDeleted=True))
    window = await in_thread(
        lambda: every_page(timeMin="2030-06-04T13:30:00Z", timeMax="2030-06-06T13:00:00Z")
    )
    original = await in_thread(lambda: every_page(originalStart="2030-06-07T09:00:00-04:00"))
    missing = await http_error(
        lambda: api.events().instances(calendarId="primary", eventId="nothere1").execute()
    )

    day = [f"{series['id']}_2030060{n}T130000Z" for n in range(3, 8)]
    assert paged == ([f"{d}:confirmed" for d in day if d != third_id], 2)
    assert with_deleted[0][2] == f"{third_id}:cancelled" and len(with_deleted[0]) == 5
    # The 4th ends after timeMin, the 5th is cancelled, the 6th starts at timeMax.
    assert window[0] == [f"{day[1]}:confirmed"]
    assert original[0] == [f"{day[4]}:confirmed"]
    assert missing.status_code == 404


async def test_freebusy_counts_instances_as_it_counts_events(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    await insert(
        api,
        summary="Editing (available)",
        start=local(ny(monday, 13)),
        end=local(ny(monday, 14)),
        recurrence=["RRULE:FREQ=DAILY"],
        transparency="transparent",
    )
    await insert(
        api,
        summary="School run",
        start=local(ny(monday, 15)),
        end=local(ny(monday, 15, 45)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
    )

    week = await busy(api, ny(monday, 0), ny(monday, 0) + timedelta(days=7))

    assert week == [
        (f"2030-06-0{d}T15:00:00-04:00", f"2030-06-0{d}T15:45:00-04:00") for d in range(3, 8)
    ]


async def test_an_endless_rule_costs_only_what_the_window_holds(
    fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_for(fake_google)
    first = date(2020, 1, 6)
    await insert(
        api,
        summary="Every day for ever",
        start=local(ny(first, 7)),
        end=local(ny(first, 8)),
        recurrence=["RRULE:FREQ=DAILY"],
    )
    built: list[str] = []
    build = fake_google_module.instance_event

    def counted(master: Any, series: Any, original: datetime) -> Any:
        built.append(original.isoformat())
        return build(master, series, original)

    monkeypatch.setattr(fake_google_module, "instance_event", counted)
    day = date(2030, 6, 4)

    hours = await busy(api, ny(day, 0), ny(day, 12))
    instances = await listed(
        api, singleEvents=True, timeMin=ny(day, 0).isoformat(), timeMax=ny(day, 12).isoformat()
    )
    windowed = list(built)
    open_ended = await listed(api, singleEvents=True, timeMin=ny(day, 0).isoformat())

    assert hours == [("2030-06-04T07:00:00-04:00", "2030-06-04T08:00:00-04:00")]
    assert [e["id"][-16:] for e in instances] == ["20300604T110000Z"]
    # Ten years of instances before the window are skipped, never built: one per query.
    assert windowed == ["2030-06-04T07:00:00", "2030-06-04T07:00:00"]
    # Without timeMax Google's paging ends too: here two years of them.
    assert 365 * 2 <= len(open_ended) <= 365 * 2 + 2


async def test_guests_see_the_instances_on_their_own_calendar(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    alice = api_for(fake_google, ALICE)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        summary="Weekly team call",
        start=local(ny(monday, 8, 30)),
        end=local(ny(monday, 9)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        attendees=[{"email": ALICE, "responseStatus": "accepted"}],
    )
    second_id = instance_id(series["id"], ny(monday + timedelta(days=7), 8, 30))
    third_id = instance_id(series["id"], ny(monday + timedelta(days=14), 8, 30))
    await in_thread(lambda: api.events().delete(calendarId="primary", eventId=second_id).execute())
    # Alice declines the third: on her side only her answer changes.
    answer = {"attendees": [{"email": ALICE, "responseStatus": "declined"}]}
    await in_thread(
        lambda: alice.events().patch(calendarId="primary", eventId=third_id, body=answer).execute()
    )

    hers = await listed(
        alice,
        singleEvents=True,
        orderBy="startTime",
        timeMin="2030-06-01T00:00:00Z",
        timeMax="2030-06-25T00:00:00Z",
    )
    organizers = await in_thread(
        lambda: api.events().get(calendarId="primary", eventId=third_id).execute()
    )

    assert [e["start"]["dateTime"][:10] for e in hers] == ["2030-06-03", "2030-06-17", "2030-06-24"]
    assert organizers["attendees"] == [{"email": ALICE, "responseStatus": "declined"}]
    assert await busy(alice, ny(monday, 0), ny(monday, 0) + timedelta(days=22)) == [
        ("2030-06-03T08:30:00-04:00", "2030-06-03T09:00:00-04:00"),
        ("2030-06-24T08:30:00-04:00", "2030-06-24T09:00:00-04:00"),
    ]


# --- refusals ------------------------------------------------------------------------


async def test_bad_recurrences_are_refused_as_google_refuses_them(fake_google: FakeGoogle) -> None:
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    timed = {"start": local(ny(monday, 9)), "end": local(ny(monday, 10))}

    async def refusal(**body: Any) -> tuple[int, list[str], str]:
        err = await http_error(
            lambda: api.events().insert(calendarId="primary", body=body).execute()
        )
        return err.status_code, reasons(err), err.reason

    for bad in (
        ["RRULE:FREQ=SOMETIMES"],
        ["RRULE:FREQ=WEEKLY;BYDAY=XX"],
        ["RRULE:BYDAY=MO"],
        ["RRULE:FREQ=YEARLY;UNTIL=20310617;COUNT=2"],
        ["RRULE:FREQ=DAILY;COUNT=-1"],
        ["RRULE:FREQ=HOURLY"],
        ["EXDATE;TZID=Mars/Olympus:20300610T090000"],
        ["VEVENT:whatever"],
        "RRULE:FREQ=DAILY",  # not a list
    ):
        assert await refusal(**timed, recurrence=bad) == (
            400,
            ["invalid"],
            "Invalid recurrence rule.",
        ), bad
    offset_only = {"dateTime": ny(monday, 9).isoformat()}  # an offset, but no timeZone
    assert await refusal(start=offset_only, end=timed["end"], recurrence=["RRULE:FREQ=DAILY"]) == (
        400,
        ["required"],
        "Missing time zone definition for start time.",
    )
    assert fake_google.events(ORGANIZER) == []


# --- other clients -------------------------------------------------------------------


async def test_gcsa_creates_a_series_and_reads_its_instances(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, ORGANIZER, [CALENDAR])
    fake_google.add_account(ORGANIZER, time_zone=NEW_YORK)
    monday = date(2030, 6, 3)

    def use_gcsa() -> tuple[list[Any], list[Any]]:
        gc = GoogleCalendar(credentials=creds)
        gc.service = service(fake_google, creds)
        series = gc.add_event(
            GcsaEvent(
                "Class",
                start=ny(monday, 18).replace(tzinfo=None),
                end=ny(monday, 19).replace(tzinfo=None),
                timezone=NEW_YORK,
                recurrence=[
                    Recurrence.rule(freq=WEEKLY, by_week_day=MO, count=4),
                    Recurrence.exclude_times([ny(monday, 18) + timedelta(days=7)], NEW_YORK),
                ],
            )
        )
        instances = list(gc.get_instances(series, time_min=ny(monday, 0), timezone=NEW_YORK))
        single = list(
            gc.get_events(
                time_min=ny(monday, 0),
                time_max=ny(monday, 0) + timedelta(days=30),
                single_events=True,
                order_by="startTime",
                timezone=NEW_YORK,
            )
        )
        return instances, single

    instances, single = await in_thread(use_gcsa)

    expected = [ny(monday, 18) + timedelta(days=d) for d in (0, 14, 21)]
    assert [e.start for e in instances] == expected
    assert [e.start for e in single] == expected
    assert all(e.recurring_event_id == instances[0].recurring_event_id for e in single)


async def test_gcal_sync_expands_the_synced_series_as_the_emulator_does(
    fake_google: FakeGoogle,
) -> None:
    """gcal_sync syncs the series and its exceptions (no singleEvents) and expands them
    itself; its instances must be the emulator's own singleEvents listing."""
    api = api_for(fake_google)
    monday = date(2030, 6, 3)
    series = await insert(
        api,
        summary="Standup",
        start=local(ny(monday, 9)),
        end=local(ny(monday, 9, 30)),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO,TH;COUNT=8", "EXDATE:20300606T130000Z"],
    )
    await insert(api, summary="One-off", start=local(ny(monday, 12)), end=local(ny(monday, 13)))
    moved_id = instance_id(series["id"], ny(monday + timedelta(days=7), 9))
    cancelled_id = instance_id(series["id"], ny(monday + timedelta(days=10), 9))
    changes = {
        "start": local(ny(monday + timedelta(days=8), 10)),
        "end": local(ny(monday + timedelta(days=8), 10, 30)),
    }
    await in_thread(
        lambda: api.events().patch(calendarId="primary", eventId=moved_id, body=changes).execute()
    )
    token, _ = fake_google.issue_tokens(ORGANIZER, [CALENDAR])
    time_min, time_max = ny(monday, 0), ny(monday, 0) + timedelta(days=40)

    async with aiohttp.ClientSession() as session:
        calendar = gcal_sync.api.GoogleCalendarService(
            StaticTokenAuth(session, fake_google.api_url.rstrip("/"), token)
        )
        # gcal_sync cancels an instance by patching its id with status "cancelled".
        await calendar.async_patch_event("primary", cancelled_id, {"status": "cancelled"})
        sync = gcal_sync.sync.CalendarEventSyncManager(calendar, calendar_id="primary")
        await sync.run()
        synced = await sync.store_service.async_list_events(
            gcal_sync.api.LocalListEventsRequest(start_time=time_min, end_time=time_max)
        )
        listed_by_api = await calendar.async_list_events(
            gcal_sync.api.ListEventsRequest(
                calendarId="primary", timeMin=time_min, timeMax=time_max
            )
        )

    def starts_of(events: list[gcal_sync.model.Event]) -> list[tuple[str | None, datetime]]:
        seen = []
        for event in events:
            assert isinstance(event.start.value, datetime)  # timed, with its zone
            seen.append((event.id, event.start.value))
        return seen

    ids = [event_id for event_id, _ in starts_of(listed_by_api.items)]
    assert starts_of(synced.events) == starts_of(listed_by_api.items)
    assert [
        start.astimezone(NY).strftime("%a %d %H:%M") for _, start in starts_of(synced.events)
    ] == [
        "Mon 03 09:00",
        "Mon 03 12:00",  # the one-off
        "Tue 11 10:00",  # moved from Monday the 10th
        "Mon 17 09:00",
        "Thu 20 09:00",
        "Mon 24 09:00",
        "Thu 27 09:00",
    ]
    assert moved_id in ids and cancelled_id not in ids
