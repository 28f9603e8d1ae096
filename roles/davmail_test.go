package roles

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// TestDavMailInFrontOfEWS puts DavMail (Debian davmail) in EWS mode in
// front of EX01, as users of IMAP-only clients do with Exchange: python's
// imaplib reads alice's Inbox through DavMail's IMAP listener, and smtplib
// sends to carol@fabrikam.com through DavMail's SMTP listener, which DavMail
// submits with EWS CreateItem; the message leaves through the Edge.
func TestDavMailInFrontOfEWS(t *testing.T) {
	davmail := needTool(t, "davmail") // Debian davmail
	keytool := needTool(t, "keytool") // the Java runtime DavMail depends on
	rt := startLab(t, "contoso", nil)
	dir := t.TempDir()

	// DavMail is Java: it trusts the lab CA through a trust store.
	trust := dir + "/" + "trust.p12"
	if out, err := exec.Command(keytool, "-importcert", "-noprompt", "-alias", "exsim-lab-ca", "-file", labCAFile(t, rt),
		"-keystore", trust, "-storetype", "PKCS12", "-storepass", "exsim-lab").CombinedOutput(); err != nil {
		t.Fatalf("keytool: %v\n%s", err, out)
	}
	imapPort, smtpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	ex01 := rt.Server("EX01").Config
	// The URL names EX01 by address (its certificate holds it): DavMail
	// resolves names with the system resolver, which knows no lab names.
	props := strings.Join([]string{
		"davmail.mode=EWS",
		"davmail.url=https://" + net.JoinHostPort(ex01.Address, strconv.Itoa(443+labtest.PortOffset)) + "/EWS/Exchange.asmx",
		"davmail.server=true", "davmail.allowRemote=false", "davmail.bindAddress=127.0.0.1",
		"davmail.imapPort=" + strconv.Itoa(imapPort), "davmail.smtpPort=" + strconv.Itoa(smtpPort),
		"davmail.popPort=", "davmail.caldavPort=", "davmail.ldapPort=",
		"davmail.disableUpdateCheck=true", "davmail.enableKerberos=false", "davmail.ssl.nosecurechannel=false",
		"davmail.logFilePath=" + dir + "/" + "davmail.log", "log4j.rootLogger=WARN",
	}, "\n") + "\n"
	propsFile := dir + "/" + "davmail.properties"
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	dm := exec.Command(davmail, propsFile)
	dm.Env = append(os.Environ(), "JAVA_TOOL_OPTIONS=-Djavax.net.ssl.trustStore="+trust+
		" -Djavax.net.ssl.trustStorePassword=exsim-lab -Djavax.net.ssl.trustStoreType=PKCS12 -Djava.awt.headless=true")
	var dmOut bytes.Buffer
	dm.Stdout, dm.Stderr = &dmOut, &dmOut
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		dm.Process.Kill()
		dm.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(dir + "/" + "davmail.log")
			t.Logf("davmail output:\n%s\ndavmail.log:\n%s", dmOut.String(), log)
		}
	}()
	imapAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(imapPort))
	for start := time.Now(); ; {
		if c, err := net.DialTimeout("tcp", imapAddr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatal("DavMail's IMAP listener never came up")
		}
		time.Sleep(200 * time.Millisecond)
	}

	readSubject, sendSubject := "through davmail", "sent through davmail to fabrikam"
	if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", readSubject, "alice@contoso.com"); res.Err != nil {
		t.Fatal(res.Err)
	}
	waitMail(t, rt, "EX01", "alice@contoso.com", readSubject)
	py := exec.Command("/usr/bin/python3", "testdata/davmail_client.py")
	py.Env = append(os.Environ(), "DAVMAIL_IMAP="+imapAddr, "DAVMAIL_SMTP="+net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		"MAIL_USER=alice@contoso.com", "MAIL_PASSWORD=P@ssw0rd", "READ_SUBJECT="+readSubject, "SEND_SUBJECT="+sendSubject,
		"SEND_FROM=alice@contoso.com", "SEND_TO=carol@fabrikam.com")
	var stdout, stderr bytes.Buffer
	py.Stdout, py.Stderr = &stdout, &stderr
	if err := py.Run(); err != nil {
		t.Fatalf("python through DavMail: %v\n%s", err, stderr.String())
	}
	var got struct {
		Select   string         `json:"select"`
		Subjects []string       `json:"subjects"`
		Body     string         `json:"body"`
		Refused  map[string]any `json:"refused"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output: %v\n%s", err, stdout.String())
	}
	if got.Select != "OK" || !strings.Contains(strings.Join(got.Subjects, "\n")+"\n", readSubject+"\n") || !strings.Contains(got.Body, "hello from INET01") || len(got.Refused) != 0 {
		t.Errorf("through DavMail: %+v", got)
	}
	// EWS submitted it on EX01; it left the organization through the Edge.
	carol := waitMail(t, rt, "INET01", "carol@fabrikam.com", sendSubject)
	if !strings.Contains(carol, "edge01.contoso.com") || !strings.Contains(carol, "ex01.contoso.com") {
		t.Errorf("carol's copy did not come through EX01 and the Edge:\n%s", carol)
	}
}

// freeLoopbackPort is a TCP port nothing listens on (for a program that
// must be told its port).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
