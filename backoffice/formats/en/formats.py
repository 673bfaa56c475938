# One date format across the admin in English: ISO order (an English "06/12" reads as June in
# one country and December in another), and every time with the operator's time zone by its name
# ("e": the active zone is a backoffice.operator_locale.NamedZone, whose name is its IANA key).
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s (e)"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s (e)"
