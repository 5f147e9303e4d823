# Django's Polish formats, with the time zone's abbreviation after every date and time
# ("T": CET, CEST, EST, UTC); see config/formats/en/formats.py.
DATETIME_FORMAT = "j E Y H:i T"
SHORT_DATETIME_FORMAT = "d-m-Y H:i T"
