package wbxml

// The code pages of MS-ASWBXML section 2.1.2.1 (protocol versions up to
// 16.1): each page's name as the XML namespace MS-ASCMD's schemas give
// it, and its tags from token 0x05 on. "" marks a token the spec leaves
// unassigned. Page 3 (AirNotify) is assigned but has no tokens any
// current protocol version uses.
var codePages = [...]struct {
	name string
	tags []string
}{
	0: {"AirSync", []string{
		"Sync", "Responses", "Add", "Change", "Delete", "Fetch", "SyncKey", "ClientId", // 05-0C
		"ServerId", "Status", "Collection", "Class", "", "CollectionId", "GetChanges", "MoreAvailable", // 0D-14
		"WindowSize", "Commands", "Options", "FilterType", "", "", "Conflict", "Collections", // 15-1C
		"ApplicationData", "DeletesAsMoves", "", "Supported", "SoftDelete", "MIMESupport", "MIMETruncation", "Wait", // 1D-24
		"Limit", "Partial", "ConversationMode", "MaxItems", "HeartbeatInterval", // 25-29
	}},
	1: {"Contacts", []string{
		"Anniversary", "AssistantName", "AssistantPhoneNumber", "Birthday", "", "", "", "Business2PhoneNumber", // 05-0C
		"BusinessAddressCity", "BusinessAddressCountry", "BusinessAddressPostalCode", "BusinessAddressState", // 0D-10
		"BusinessAddressStreet", "BusinessFaxNumber", "BusinessPhoneNumber", "CarPhoneNumber", "Categories", // 11-15
		"Category", "Children", "Child", "CompanyName", "Department", "Email1Address", "Email2Address", // 16-1C
		"Email3Address", "FileAs", "FirstName", "Home2PhoneNumber", "HomeAddressCity", "HomeAddressCountry", // 1D-22
		"HomeAddressPostalCode", "HomeAddressState", "HomeAddressStreet", "HomeFaxNumber", "HomePhoneNumber", // 23-27
		"JobTitle", "LastName", "MiddleName", "MobilePhoneNumber", "OfficeLocation", "OtherAddressCity", // 28-2D
		"OtherAddressCountry", "OtherAddressPostalCode", "OtherAddressState", "OtherAddressStreet", "PagerNumber", // 2E-32
		"RadioPhoneNumber", "Spouse", "Suffix", "Title", "WebPage", "YomiCompanyName", "YomiFirstName", // 33-39
		"YomiLastName", "", "Picture", "Alias", "WeightedRank", // 3A-3E
	}},
	2: {"Email", []string{
		"", "", "", "", "", "", "", "", "", "", // 05-0E: protocol 2.5 only
		"DateReceived", "", "DisplayTo", "Importance", "MessageClass", "Subject", "Read", "To", "Cc", // 0F-17
		"From", "ReplyTo", "AllDayEvent", "Categories", "Category", "DTStamp", "EndTime", "InstanceType", // 18-1F
		"BusyStatus", "Location", "MeetingRequest", "Organizer", "RecurrenceId", "Reminder", "ResponseRequested", // 20-26
		"Recurrences", "Recurrence", "Recurrence_Type", "Recurrence_Until", "Recurrence_Occurrences", // 27-2B
		"Recurrence_Interval", "Recurrence_DayOfWeek", "Recurrence_DayOfMonth", "Recurrence_WeekOfMonth", // 2C-2F
		"Recurrence_MonthOfYear", "StartTime", "Sensitivity", "TimeZone", "GlobalObjId", "ThreadTopic", // 30-35
		"", "", "", "InternetCPID", "Flag", "Status", "ContentClass", "FlagType", "CompleteTime", // 36-3E
		"DisallowNewTimeProposal", // 3F
	}},
	3: {"AirNotify", nil},
	4: {"Calendar", []string{
		"TimeZone", "AllDayEvent", "Attendees", "Attendee", "Email", "Name", "", "", "BusyStatus", // 05-0D
		"Categories", "Category", "", "DtStamp", "EndTime", "Exception", "Exceptions", "Deleted", // 0E-15
		"ExceptionStartTime", "Location", "MeetingStatus", "OrganizerEmail", "OrganizerName", "Recurrence", // 16-1B
		"Type", "Until", "Occurrences", "Interval", "DayOfWeek", "DayOfMonth", "WeekOfMonth", "MonthOfYear", // 1C-23
		"Reminder", "Sensitivity", "Subject", "StartTime", "UID", "AttendeeStatus", "AttendeeType", // 24-2A
		"", "", "", "", "", "", "", "", // 2B-32
		"DisallowNewTimeProposal", "ResponseRequested", "AppointmentReplyTime", "ResponseType", "CalendarType", // 33-37
		"IsLeapMonth", "FirstDayOfWeek", "OnlineMeetingConfLink", "OnlineMeetingExternalLink", "ClientUid", // 38-3C
	}},
	5: {"Move", []string{"MoveItems", "Move", "SrcMsgId", "SrcFldId", "DstFldId", "Response", "Status", "DstMsgId"}},
	6: {"GetItemEstimate", []string{
		"GetItemEstimate", "", "Collections", "Collection", "Class", "CollectionId", "DateTime", "Estimate", "Response", "Status",
	}},
	7: {"FolderHierarchy", []string{
		"", "", "DisplayName", "ServerId", "ParentId", "Type", "", "Status", "", "Changes", "Add", "Delete", // 05-10
		"Update", "SyncKey", "FolderCreate", "FolderDelete", "FolderUpdate", "FolderSync", "Count", // 11-17
	}},
	8: {"MeetingResponse", []string{
		"CalendarId", "CollectionId", "MeetingResponse", "RequestId", "Request", "Result", "Status", "UserResponse", // 05-0C
		"", "InstanceId", "", "ProposedStartTime", "ProposedEndTime", "SendResponse", // 0D-12
	}},
	9: {"Tasks", []string{
		"", "", "", "Categories", "Category", "Complete", "DateCompleted", "DueDate", "UtcDueDate", "Importance", // 05-0E
		"Recurrence", "Type", "Start", "Until", "Occurrences", "Interval", "DayOfMonth", "DayOfWeek", // 0F-16
		"WeekOfMonth", "MonthOfYear", "Regenerate", "DeadOccur", "ReminderSet", "ReminderTime", "Sensitivity", // 17-1D
		"StartDate", "UtcStartDate", "Subject", "", "OrdinalDate", "SubOrdinalDate", "CalendarType", // 1E-24
		"IsLeapMonth", "FirstDayOfWeek", // 25-26
	}},
	10: {"ResolveRecipients", []string{
		"ResolveRecipients", "Response", "Status", "Type", "Recipient", "DisplayName", "EmailAddress", // 05-0B
		"Certificates", "Certificate", "MiniCertificate", "Options", "To", "CertificateRetrieval", // 0C-11
		"RecipientCount", "MaxCertificates", "MaxAmbiguousRecipients", "CertificateCount", "Availability", // 12-16
		"StartTime", "EndTime", "MergedFreeBusy", "Picture", "MaxSize", "Data", "MaxPictures", // 17-1D
	}},
	11: {"ValidateCert", []string{"ValidateCert", "Certificates", "Certificate", "CertificateChain", "CheckCRL", "Status"}},
	12: {"Contacts2", []string{
		"CustomerId", "GovernmentId", "IMAddress", "IMAddress2", "IMAddress3", "ManagerName", "CompanyMainPhone",
		"AccountName", "NickName", "MMS",
	}},
	13: {"Ping", []string{"Ping", "AutdState", "Status", "HeartbeatInterval", "Folders", "Folder", "Id", "Class", "MaxFolders"}},
	14: {"Provision", []string{
		"Provision", "Policies", "Policy", "PolicyType", "PolicyKey", "Data", "Status", "RemoteWipe", // 05-0C
		"EASProvisionDoc", "DevicePasswordEnabled", "AlphanumericDevicePasswordRequired", // 0D-0F
		"RequireStorageCardEncryption", "PasswordRecoveryEnabled", "", "AttachmentsEnabled", // 10-13
		"MinDevicePasswordLength", "MaxInactivityTimeDeviceLock", "MaxDevicePasswordFailedAttempts", // 14-16
		"MaxAttachmentSize", "AllowSimpleDevicePassword", "DevicePasswordExpiration", "DevicePasswordHistory", // 17-1A
		"AllowStorageCard", "AllowCamera", "RequireDeviceEncryption", "AllowUnsignedApplications", // 1B-1E
		"AllowUnsignedInstallationPackages", "MinDevicePasswordComplexCharacters", "AllowWiFi", // 1F-21
		"AllowTextMessaging", "AllowPOPIMAPEmail", "AllowBluetooth", "AllowIrDA", "RequireManualSyncWhenRoaming", // 22-26
		"AllowDesktopSync", "MaxCalendarAgeFilter", "AllowHTMLEmail", "MaxEmailAgeFilter", // 27-2A
		"MaxEmailBodyTruncationSize", "MaxEmailHTMLBodyTruncationSize", "RequireSignedSMIMEMessages", // 2B-2D
		"RequireEncryptedSMIMEMessages", "RequireSignedSMIMEAlgorithm", "RequireEncryptionSMIMEAlgorithm", // 2E-30
		"AllowSMIMEEncryptionAlgorithmNegotiation", "AllowSMIMESoftCerts", "AllowBrowser", "AllowConsumerEmail", // 31-34
		"AllowRemoteDesktop", "AllowInternetSharing", "UnapprovedInROMApplicationList", "ApplicationName", // 35-38
		"ApprovedApplicationList", "Hash", "AccountOnlyRemoteWipe", // 39-3B
	}},
	15: {"Search", []string{
		"Search", "", "Store", "Name", "Query", "Options", "Range", "Status", "Response", "Result", "Properties", // 05-0F
		"Total", "EqualTo", "Value", "And", "Or", "FreeText", "", "DeepTraversal", "LongId", "RebuildResults", // 10-19
		"LessThan", "GreaterThan", "", "", "UserName", "Password", "ConversationId", "Picture", "MaxSize", // 1A-22
		"MaxPictures", // 23
	}},
	16: {"GAL", []string{
		"DisplayName", "Phone", "Office", "Title", "Company", "Alias", "FirstName", "LastName", "HomePhone",
		"MobilePhone", "EmailAddress", "Picture", "Status", "Data",
	}},
	17: {"AirSyncBase", []string{
		"BodyPreference", "Type", "TruncationSize", "AllOrNone", "", "Body", "Data", "EstimatedDataSize", // 05-0C
		"Truncated", "Attachments", "Attachment", "DisplayName", "FileReference", "Method", "ContentId", // 0D-13
		"ContentLocation", "IsInline", "NativeBodyType", "ContentType", "Preview", "BodyPartPreference", // 14-19
		"BodyPart", "Status", "Add", "Delete", "ClientId", "Content", "Location", "Annotation", "Street", // 1A-22
		"City", "State", "Country", "PostalCode", "Latitude", "Longitude", "Accuracy", "Altitude", // 23-2A
		"AltitudeAccuracy", "LocationUri", "InstanceId", // 2B-2D
	}},
	18: {"Settings", []string{
		"Settings", "Status", "Get", "Set", "Oof", "OofState", "StartTime", "EndTime", "OofMessage", // 05-0D
		"AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown", "Enabled", "ReplyMessage", // 0E-12
		"BodyType", "DevicePassword", "Password", "DeviceInformation", "Model", "IMEI", "FriendlyName", "OS", // 13-1A
		"OSLanguage", "PhoneNumber", "UserInformation", "EmailAddresses", "SMTPAddress", "UserAgent", // 1B-20
		"EnableOutboundSMS", "MobileOperator", "PrimarySmtpAddress", "Accounts", "Account", "AccountId", // 21-26
		"AccountName", "UserDisplayName", "SendDisabled", "", "RightsManagementInformation", // 27-2B
	}},
	19: {"DocumentLibrary", []string{
		"LinkId", "DisplayName", "IsFolder", "CreationDate", "LastModifiedDate", "IsHidden", "ContentLength", "ContentType",
	}},
	20: {"ItemOperations", []string{
		"ItemOperations", "Fetch", "Store", "Options", "Range", "Total", "Properties", "Data", "Status", // 05-0D
		"Response", "Version", "Schema", "Part", "EmptyFolderContents", "DeleteSubFolders", "UserName", // 0E-14
		"Password", "Move", "DstFldId", "ConversationId", "MoveAlways", // 15-19
	}},
	21: {"ComposeMail", []string{
		"SendMail", "SmartForward", "SmartReply", "SaveInSentItems", "ReplaceMime", "", "Source", "FolderId", // 05-0C
		"ItemId", "LongId", "InstanceId", "Mime", "ClientId", "Status", "AccountId", "", "Forwardees", // 0D-15
		"Forwardee", "ForwardeeName", "ForwardeeEmail", // 16-18
	}},
	22: {"Email2", []string{
		"UmCallerID", "UmUserNotes", "UmAttDuration", "UmAttOrder", "ConversationId", "ConversationIndex", // 05-0A
		"LastVerbExecuted", "LastVerbExecutionTime", "ReceivedAsBcc", "Sender", "CalendarType", "IsLeapMonth", // 0B-10
		"AccountId", "FirstDayOfWeek", "MeetingMessageType", "", "IsDraft", "Bcc", "Send", // 11-17
	}},
	23: {"Notes", []string{"Subject", "MessageClass", "LastModifiedDate", "Categories", "Category"}},
	24: {"RightsManagement", []string{
		"RightsManagementSupport", "RightsManagementTemplates", "RightsManagementTemplate",
		"RightsManagementLicense", "EditAllowed", "ReplyAllowed", "ReplyAllAllowed", "ForwardAllowed",
		"ModifyRecipientsAllowed", "ExtractAllowed", "PrintAllowed", "ExportAllowed", "ProgrammaticAccessAllowed",
		"Owner", "ContentExpiryDate", "TemplateID", "TemplateName", "TemplateDescription", "ContentOwner",
		"RemoveRightsManagementDistribution",
	}},
}

// firstTag is the token of a page's first tag: 0x00-0x04 are WBXML's
// global tokens (WAP-192 section 7.1).
const firstTag = 0x05

type tagKey struct {
	page byte
	tag  string
}

// tokens maps "Page", "Tag" to a page and token, built once from codePages.
var tokens = func() map[tagKey]byte {
	m := map[tagKey]byte{}
	for p, cp := range codePages {
		for i, t := range cp.tags {
			if t != "" {
				m[tagKey{byte(p), t}] = byte(firstTag + i)
			}
		}
	}
	return m
}()

// pageOf maps a namespace to its page number.
var pageOf = func() map[string]byte {
	m := map[string]byte{}
	for p, cp := range codePages {
		m[cp.name] = byte(p)
	}
	return m
}()

// tagName is the tag of token tok on page, "" when unassigned.
func tagName(page, tok byte) string {
	if int(page) >= len(codePages) || tok < firstTag {
		return ""
	}
	tags := codePages[page].tags
	if int(tok-firstTag) >= len(tags) {
		return ""
	}
	return tags[tok-firstTag]
}
