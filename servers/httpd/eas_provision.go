package httpd

import (
	"strconv"

	"github.com/exsim/exsim/internal/wbxml"
)

// easPolicyType is the only policy type of protocol 12.0 and later
// (MS-ASPROV 2.2.2.41).
const easPolicyType = "MS-EAS-Provisioning-WBXML"

// easDefaultPolicy is the Default mobile device mailbox policy of a new
// Exchange 2016/2019 organization as EASProvisionDoc carries it (the
// values of MS-ASPROV's example, which match Exchange's defaults: no
// device password required, everything allowed).
var easDefaultPolicy = [][2]string{
	{"DevicePasswordEnabled", "0"}, {"AlphanumericDevicePasswordRequired", "0"}, {"PasswordRecoveryEnabled", "0"},
	{"RequireStorageCardEncryption", "0"}, {"AttachmentsEnabled", "1"}, {"MinDevicePasswordLength", "4"},
	{"MaxInactivityTimeDeviceLock", "900"}, {"MaxDevicePasswordFailedAttempts", "8"}, {"MaxAttachmentSize", ""},
	{"AllowSimpleDevicePassword", "1"}, {"DevicePasswordExpiration", ""}, {"DevicePasswordHistory", "0"},
	{"AllowStorageCard", "1"}, {"AllowCamera", "1"}, {"RequireDeviceEncryption", "0"},
	{"AllowUnsignedApplications", "1"}, {"AllowUnsignedInstallationPackages", "1"},
	{"MinDevicePasswordComplexCharacters", "1"}, {"AllowWiFi", "1"}, {"AllowTextMessaging", "1"},
	{"AllowPOPIMAPEmail", "1"}, {"AllowBluetooth", "2"}, {"AllowIrDA", "1"}, {"RequireManualSyncWhenRoaming", "0"},
	{"AllowDesktopSync", "1"}, {"MaxCalendarAgeFilter", "0"}, {"AllowHTMLEmail", "1"}, {"MaxEmailAgeFilter", "0"},
	{"MaxEmailBodyTruncationSize", "-1"}, {"MaxEmailHTMLBodyTruncationSize", "-1"},
	{"RequireSignedSMIMEMessages", "0"}, {"RequireEncryptedSMIMEMessages", "0"}, {"RequireSignedSMIMEAlgorithm", "0"},
	{"RequireEncryptionSMIMEAlgorithm", "0"}, {"AllowSMIMEEncryptionAlgorithmNegotiation", "2"},
	{"AllowSMIMESoftCerts", "1"}, {"AllowBrowser", "1"}, {"AllowConsumerEmail", "1"}, {"AllowRemoteDesktop", "1"},
	{"AllowInternetSharing", "1"}, {"UnapprovedInROMApplicationList", ""}, {"ApprovedApplicationList", ""},
}

// provision is the policy key dance (MS-ASPROV 3.1.5.1): the device asks
// for the policy and gets it with a temporary key; it acknowledges that
// key with Status 1 and gets the final key it then sends in
// X-MS-PolicyKey.
func (c *easCall) provision() *wbxml.Node {
	resp := wbxml.E("Provision:Provision")
	if !c.asks("Provision") {
		return resp.Add(wbxml.T("Provision:Status", strconv.Itoa(provProtocolError)))
	}
	if c.body.Has("Settings:DeviceInformation") {
		// The device describes itself; exsim records nothing of it.
		resp.Add(wbxml.E("Settings:DeviceInformation", wbxml.T("Settings:Status", "1")))
	}
	if c.body.Has("RemoteWipe") {
		// The device acknowledges a wipe exsim never asked for.
		return resp.Add(wbxml.T("Provision:Status", strconv.Itoa(provSuccess)),
			wbxml.E("Provision:RemoteWipe", wbxml.T("Provision:Status", "1")))
	}
	p := c.body.Path("Policies", "Policy")
	if p == nil {
		return resp.Add(wbxml.T("Provision:Status", strconv.Itoa(provProtocolError)))
	}
	resp.Add(wbxml.T("Provision:Status", strconv.Itoa(provSuccess)))
	typ := p.Value("PolicyType")
	policy := wbxml.E("Provision:Policy", wbxml.T("Provision:PolicyType", typ))
	resp.Add(wbxml.E("Provision:Policies", policy))
	if typ != easPolicyType {
		return policyStatus(resp, policy, policyUnknownType)
	}
	dev := c.dev
	if ack := p.Value("PolicyKey"); ack != "" {
		if dev.tempPolicyKey == 0 || ack != strconv.FormatUint(uint64(dev.tempPolicyKey), 10) {
			c.log.Info("activesync: provision acknowledges a key never handed out", "policy_key", ack)
			return policyStatus(resp, policy, policyWrongKey)
		}
		// The device applied the policy (Status 1) or says it could
		// only partly (2): either way Exchange's default policy, which
		// allows non-compliant devices, provisions it.
		dev.policyKey, dev.tempPolicyKey = newPolicyKey(), 0
		c.log.Info("activesync: device provisioned", "status", p.Value("Status"))
		policy.Add(wbxml.T("Provision:Status", "1"), wbxml.T("Provision:PolicyKey", strconv.FormatUint(uint64(dev.policyKey), 10)))
		return resp
	}
	dev.tempPolicyKey = newPolicyKey()
	doc := wbxml.E("Provision:EASProvisionDoc")
	for _, kv := range easDefaultPolicy {
		doc.Add(wbxml.T("Provision:"+kv[0], kv[1]))
	}
	policy.Add(wbxml.T("Provision:Status", "1"), wbxml.T("Provision:PolicyKey", strconv.FormatUint(uint64(dev.tempPolicyKey), 10)),
		wbxml.E("Provision:Data", doc))
	return resp
}

func policyStatus(resp, policy *wbxml.Node, status int) *wbxml.Node {
	policy.Add(wbxml.T("Provision:Status", strconv.Itoa(status)))
	return resp
}
