"""Action ids of every interactive element, in one place."""

from __future__ import annotations

CONNECT_LINK = "connect_link"
"""A button that opens a consent URL; Slack still sends its click, which is acknowledged."""

RECONNECT = "reconnect"
"""Reconnect a broken connection; the button's value is the connection id."""

CONNECT_MINE = "connect_mine"
"""Give whoever clicks their own link to connect their staff calendar."""

CONNECT_PRIMARY = "connect_primary"
"""Give whoever clicks their own link to connect the business's primary calendar."""

REMIND_STAFF = "remind_staff"
"""Post one reminder naming the channel's people who haven't connected a calendar yet."""

CONNECT_HERE = "connect_here"
"""In the Home tab: a link to connect my own calendar in one channel; the value is its customer id."""

CANCEL_BOOKING = "cancel_booking"
"""Cancel a booking; the button's value is its short id."""

BOOK_SLOT = "book_slot"
"""Book a suggested slot; the button's value is the booking asked for, as JSON."""

BOOK_MODAL = "book_modal"
"""The callback id of the booking modal."""

REPLACE_PRIMARY = "replace_primary"
"""Confirmed: replace the connected primary calendar; the value is its connection id."""

OPEN_BOOK_FORM = "open_book_form"
"""The panel's Book button (and the answer to `@Tonomo book`): opens the booking modal."""

OPEN_AVAILABILITY_FORM = "open_availability_form"
"""The panel's Availability button: opens the availability modal."""

SHOW_STATUS = "show_status"
"""The panel's Status button: the status, to whoever clicked."""

AVAILABILITY_MODAL = "availability_modal"
"""The callback id of the availability modal."""

MARK_CANCELLED = "mark_cancelled"
"""Cancel a booking here whose event the bot can't reach; the value is its short id."""

DESK_REMIND = "desk_remind"
"""In the onboarder's desk (the Home tab): post the friendly reminder in one channel; the
value is its customer id."""

MOVE_BOOKING = "move_booking"
"""The booking message's Move button: opens the move modal; the value is its short id."""

MOVE_MODAL = "move_modal"
"""The callback id of the move modal."""

MOVE_SLOT = "move_slot"
"""Move a booking to a suggested time (each button its own `move_slot_N`); the value is
the move asked for, as JSON."""

BOOK_ANYONE_SLOT = "book_anyone_slot"
"""Book anyone free among the same people at a suggested time (each button its own
`book_anyone_slot_N`); the value is the booking asked for, as JSON."""
