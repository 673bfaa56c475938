"""The contract's limits of a phone's fields, written once: the model, the checks, the API
serializers and the admin form take them from here."""

from backoffice.ids import INT32_MAX

NUMBER_MAX_LENGTH = 15
EXTENSION_MAX_LENGTH = 10
COUNTRY_CODE_MAX = 99999
AREA_CODE_MAX = INT32_MAX
DEFAULT_COUNTRY_CODE = 55
