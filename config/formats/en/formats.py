# Django's English formats, with the time zone's abbreviation after every date and time
# ("T": CET, CEST, EST, UTC). Times are shown in the viewer's zone (apps.accounts.zones),
# so a time without its zone would be a guess for anyone in another one.
DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
