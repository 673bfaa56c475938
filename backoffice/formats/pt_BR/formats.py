# One date format across the admin in Portuguese (Django's own pt_BR spells months out): day
# first, as Brazilian readers expect, and every time with the operator's time zone by its name
# ("e": the active zone is a backoffice.operator_locale.NamedZone, whose name is its IANA key).
DATE_FORMAT = "d/m/Y"
SHORT_DATE_FORMAT = "d/m/Y"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "d/m/Y H:i:s (e)"
SHORT_DATETIME_FORMAT = "d/m/Y H:i:s (e)"
# The charts' days: as the dates above, without the year (Django's own says "7 de Novembro").
MONTH_DAY_FORMAT = "d/m"
