import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_APPROVE: _ClassVar[Outcome]
    OUTCOME_DECLINE: _ClassVar[Outcome]
    OUTCOME_REVIEW: _ClassVar[Outcome]

class RiskLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_LEVEL_UNSPECIFIED: _ClassVar[RiskLevel]
    RISK_LEVEL_NONE: _ClassVar[RiskLevel]
    RISK_LEVEL_LOW: _ClassVar[RiskLevel]
    RISK_LEVEL_MEDIUM: _ClassVar[RiskLevel]
    RISK_LEVEL_HIGH: _ClassVar[RiskLevel]

class RepaymentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPAYMENT_METHOD_UNSPECIFIED: _ClassVar[RepaymentMethod]
    REPAYMENT_METHOD_EQUAL_INSTALLMENT: _ClassVar[RepaymentMethod]
    REPAYMENT_METHOD_EQUAL_PRINCIPAL: _ClassVar[RepaymentMethod]
    REPAYMENT_METHOD_BULLET: _ClassVar[RepaymentMethod]

class TransactionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_TYPE_UNSPECIFIED: _ClassVar[TransactionType]
    TRANSACTION_TYPE_LOGIN: _ClassVar[TransactionType]
    TRANSACTION_TYPE_PASSWORD_CHANGE: _ClassVar[TransactionType]
    TRANSACTION_TYPE_PHONE_CHANGE: _ClassVar[TransactionType]
    TRANSACTION_TYPE_DRAWDOWN: _ClassVar[TransactionType]
    TRANSACTION_TYPE_TRANSFER_OUT: _ClassVar[TransactionType]
    TRANSACTION_TYPE_REPAYMENT: _ClassVar[TransactionType]
    TRANSACTION_TYPE_PAYMENT: _ClassVar[TransactionType]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_APPROVE: Outcome
OUTCOME_DECLINE: Outcome
OUTCOME_REVIEW: Outcome
RISK_LEVEL_UNSPECIFIED: RiskLevel
RISK_LEVEL_NONE: RiskLevel
RISK_LEVEL_LOW: RiskLevel
RISK_LEVEL_MEDIUM: RiskLevel
RISK_LEVEL_HIGH: RiskLevel
REPAYMENT_METHOD_UNSPECIFIED: RepaymentMethod
REPAYMENT_METHOD_EQUAL_INSTALLMENT: RepaymentMethod
REPAYMENT_METHOD_EQUAL_PRINCIPAL: RepaymentMethod
REPAYMENT_METHOD_BULLET: RepaymentMethod
TRANSACTION_TYPE_UNSPECIFIED: TransactionType
TRANSACTION_TYPE_LOGIN: TransactionType
TRANSACTION_TYPE_PASSWORD_CHANGE: TransactionType
TRANSACTION_TYPE_PHONE_CHANGE: TransactionType
TRANSACTION_TYPE_DRAWDOWN: TransactionType
TRANSACTION_TYPE_TRANSFER_OUT: TransactionType
TRANSACTION_TYPE_REPAYMENT: TransactionType
TRANSACTION_TYPE_PAYMENT: TransactionType

class Money(_message.Message):
    __slots__ = ("currency", "minor_units")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    currency: str
    minor_units: int
    def __init__(self, currency: _Optional[str] = ..., minor_units: _Optional[int] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("code", "rule_id", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    rule_id: str
    message: str
    def __init__(self, code: _Optional[str] = ..., rule_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FraudFlag(_message.Message):
    __slots__ = ("code", "rule_id", "severity", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    rule_id: str
    severity: RiskLevel
    message: str
    def __init__(self, code: _Optional[str] = ..., rule_id: _Optional[str] = ..., severity: _Optional[_Union[RiskLevel, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DecisionMeta(_message.Message):
    __slots__ = ("decision_id", "ruleset_version", "ruleset_digest", "rules_fired", "decided_at", "replayed")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    RULESET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RULES_FIRED_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    ruleset_version: str
    ruleset_digest: str
    rules_fired: _containers.RepeatedScalarFieldContainer[str]
    decided_at: _timestamp_pb2.Timestamp
    replayed: bool
    def __init__(self, decision_id: _Optional[str] = ..., ruleset_version: _Optional[str] = ..., ruleset_digest: _Optional[str] = ..., rules_fired: _Optional[_Iterable[str]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("device_id", "ip", "country", "city")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    ip: str
    country: str
    city: str
    def __init__(self, device_id: _Optional[str] = ..., ip: _Optional[str] = ..., country: _Optional[str] = ..., city: _Optional[str] = ...) -> None: ...

class Applicant(_message.Message):
    __slots__ = ("user_id", "age", "real_name_verified", "agreement_signed", "annual_income", "monthly_spend_avg", "active_spend_months", "on_time_repayments_24m", "overdue_count_24m", "max_days_overdue_24m", "credit_inquiries_6m", "financial_assets", "account_age_months", "verified_contacts", "country", "attributes")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    REAL_NAME_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_SIGNED_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INCOME_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_SPEND_AVG_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SPEND_MONTHS_FIELD_NUMBER: _ClassVar[int]
    ON_TIME_REPAYMENTS_24M_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_COUNT_24M_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_OVERDUE_24M_FIELD_NUMBER: _ClassVar[int]
    CREDIT_INQUIRIES_6M_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_ASSETS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_AGE_MONTHS_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    age: int
    real_name_verified: bool
    agreement_signed: bool
    annual_income: Money
    monthly_spend_avg: Money
    active_spend_months: int
    on_time_repayments_24m: int
    overdue_count_24m: int
    max_days_overdue_24m: int
    credit_inquiries_6m: int
    financial_assets: Money
    account_age_months: int
    verified_contacts: int
    country: str
    attributes: _struct_pb2.Struct
    def __init__(self, user_id: _Optional[str] = ..., age: _Optional[int] = ..., real_name_verified: _Optional[bool] = ..., agreement_signed: _Optional[bool] = ..., annual_income: _Optional[_Union[Money, _Mapping]] = ..., monthly_spend_avg: _Optional[_Union[Money, _Mapping]] = ..., active_spend_months: _Optional[int] = ..., on_time_repayments_24m: _Optional[int] = ..., overdue_count_24m: _Optional[int] = ..., max_days_overdue_24m: _Optional[int] = ..., credit_inquiries_6m: _Optional[int] = ..., financial_assets: _Optional[_Union[Money, _Mapping]] = ..., account_age_months: _Optional[int] = ..., verified_contacts: _Optional[int] = ..., country: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ScoreUserRequest(_message.Message):
    __slots__ = ("request_id", "applicant")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    applicant: Applicant
    def __init__(self, request_id: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ...) -> None: ...

class ScoreUserResponse(_message.Message):
    __slots__ = ("score", "band", "reasons", "meta")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    score: int
    band: str
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    meta: DecisionMeta
    def __init__(self, score: _Optional[int] = ..., band: _Optional[str] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., meta: _Optional[_Union[DecisionMeta, _Mapping]] = ...) -> None: ...

class GrantLimitRequest(_message.Message):
    __slots__ = ("request_id", "applicant")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    applicant: Applicant
    def __init__(self, request_id: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ...) -> None: ...

class GrantLimitResponse(_message.Message):
    __slots__ = ("outcome", "credit_limit", "daily_interest_rate", "apr", "score", "reasons", "meta")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    DAILY_INTEREST_RATE_FIELD_NUMBER: _ClassVar[int]
    APR_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    credit_limit: Money
    daily_interest_rate: str
    apr: str
    score: int
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    meta: DecisionMeta
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., credit_limit: _Optional[_Union[Money, _Mapping]] = ..., daily_interest_rate: _Optional[str] = ..., apr: _Optional[str] = ..., score: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., meta: _Optional[_Union[DecisionMeta, _Mapping]] = ...) -> None: ...

class AuthorizeDrawdownRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "amount", "term_months", "repayment_method", "purpose", "channel")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TERM_MONTHS_FIELD_NUMBER: _ClassVar[int]
    REPAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: str
    amount: Money
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str
    channel: Channel
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., term_months: _Optional[int] = ..., repayment_method: _Optional[_Union[RepaymentMethod, str]] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[Channel, _Mapping]] = ...) -> None: ...

class Installment(_message.Message):
    __slots__ = ("number", "due_date", "principal", "interest")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    INTEREST_FIELD_NUMBER: _ClassVar[int]
    number: int
    due_date: str
    principal: Money
    interest: Money
    def __init__(self, number: _Optional[int] = ..., due_date: _Optional[str] = ..., principal: _Optional[_Union[Money, _Mapping]] = ..., interest: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class AuthorizeDrawdownResponse(_message.Message):
    __slots__ = ("outcome", "drawdown_id", "available_limit", "schedule", "apr", "reasons", "fraud_flags", "meta")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DRAWDOWN_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    APR_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FLAGS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    drawdown_id: str
    available_limit: Money
    schedule: _containers.RepeatedCompositeFieldContainer[Installment]
    apr: str
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    fraud_flags: _containers.RepeatedCompositeFieldContainer[FraudFlag]
    meta: DecisionMeta
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., drawdown_id: _Optional[str] = ..., available_limit: _Optional[_Union[Money, _Mapping]] = ..., schedule: _Optional[_Iterable[_Union[Installment, _Mapping]]] = ..., apr: _Optional[str] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., fraud_flags: _Optional[_Iterable[_Union[FraudFlag, _Mapping]]] = ..., meta: _Optional[_Union[DecisionMeta, _Mapping]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "user_id", "type", "amount", "occurred_at", "channel", "counterparty_id", "merchant_category")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    user_id: str
    type: TransactionType
    amount: Money
    occurred_at: _timestamp_pb2.Timestamp
    channel: Channel
    counterparty_id: str
    merchant_category: str
    def __init__(self, transaction_id: _Optional[str] = ..., user_id: _Optional[str] = ..., type: _Optional[_Union[TransactionType, str]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[_Union[Channel, _Mapping]] = ..., counterparty_id: _Optional[str] = ..., merchant_category: _Optional[str] = ...) -> None: ...

class FlagTransactionRequest(_message.Message):
    __slots__ = ("request_id", "transaction")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    transaction: Transaction
    def __init__(self, request_id: _Optional[str] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class FlagTransactionResponse(_message.Message):
    __slots__ = ("risk_level", "outcome", "flags", "meta")
    RISK_LEVEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    risk_level: RiskLevel
    outcome: Outcome
    flags: _containers.RepeatedCompositeFieldContainer[FraudFlag]
    meta: DecisionMeta
    def __init__(self, risk_level: _Optional[_Union[RiskLevel, str]] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., flags: _Optional[_Iterable[_Union[FraudFlag, _Mapping]]] = ..., meta: _Optional[_Union[DecisionMeta, _Mapping]] = ...) -> None: ...

class GetCreditLineRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetCreditLineResponse(_message.Message):
    __slots__ = ("user_id", "credit_limit", "outstanding_principal", "available_limit", "daily_interest_rate", "status")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    DAILY_INTEREST_RATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    credit_limit: Money
    outstanding_principal: Money
    available_limit: Money
    daily_interest_rate: str
    status: str
    def __init__(self, user_id: _Optional[str] = ..., credit_limit: _Optional[_Union[Money, _Mapping]] = ..., outstanding_principal: _Optional[_Union[Money, _Mapping]] = ..., available_limit: _Optional[_Union[Money, _Mapping]] = ..., daily_interest_rate: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class RecordRepaymentRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "drawdown_id", "amount")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DRAWDOWN_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: str
    drawdown_id: str
    amount: Money
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[str] = ..., drawdown_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class RecordRepaymentResponse(_message.Message):
    __slots__ = ("outstanding_principal", "available_limit", "meta")
    OUTSTANDING_PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    outstanding_principal: Money
    available_limit: Money
    meta: DecisionMeta
    def __init__(self, outstanding_principal: _Optional[_Union[Money, _Mapping]] = ..., available_limit: _Optional[_Union[Money, _Mapping]] = ..., meta: _Optional[_Union[DecisionMeta, _Mapping]] = ...) -> None: ...

class GetRulesStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuleBundleInfo(_message.Message):
    __slots__ = ("version", "digest")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    version: str
    digest: str
    def __init__(self, version: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class GetRulesStatusResponse(_message.Message):
    __slots__ = ("active", "last_edit_rejected", "rejected_problems", "rejected_at", "checking_since", "active_warnings")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LAST_EDIT_REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    CHECKING_SINCE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    active: RuleBundleInfo
    last_edit_rejected: bool
    rejected_problems: _containers.RepeatedScalarFieldContainer[str]
    rejected_at: _timestamp_pb2.Timestamp
    checking_since: _timestamp_pb2.Timestamp
    active_warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, active: _Optional[_Union[RuleBundleInfo, _Mapping]] = ..., last_edit_rejected: _Optional[bool] = ..., rejected_problems: _Optional[_Iterable[str]] = ..., rejected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checking_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active_warnings: _Optional[_Iterable[str]] = ...) -> None: ...
