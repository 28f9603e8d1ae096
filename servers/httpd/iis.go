package httpd

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// setRaw sets a header under exactly the given spelling. net/http would
// canonicalize "X-FEServer" to "X-Feserver" and "request-id" to
// "Request-Id"; Exchange sends them as written here, and a fingerprinting
// client compares spellings on HTTP/1.1.
func setRaw(h http.Header, key string, values ...string) {
	h.Del(key) // drop a canonical duplicate, if any
	h[key] = values
}

// addRaw appends a value under exactly the given spelling.
func addRaw(h http.Header, key, value string) {
	h[key] = append(h[key], value)
}

// stampIIS adds the headers IIS and Exchange's HttpProxy put on every
// response (EXCHANGE.md section 6).
func (c *config) stampIIS(w http.ResponseWriter) {
	h := w.Header()
	setRaw(h, "Server", "Microsoft-IIS/10.0")
	setRaw(h, "X-Powered-By", "ASP.NET")
	setRaw(h, "X-AspNet-Version", "4.0.30319")
	setRaw(h, "request-id", uuid.NewString())
	setRaw(h, "X-FEServer", c.ServerName)
}

// iisError is one of IIS's error answers: the custom error page remote
// clients see, and the detailed error page for requests from the server
// itself (IIS's default errorMode="DetailedLocalOnly").
type iisError struct {
	Status    int
	SubStatus int
	// Custom page (custerr\en-US\<status>.htm).
	Title, Detail string
	// Detailed page.
	Reason, Summary, Cause, Module, Notification, Handler, Code string
}

var (
	errNotFound = iisError{
		Status: 404, Title: "404 - File or directory not found.",
		Detail:  "The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.",
		Reason:  "Not Found",
		Summary: "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable.",
		Cause:   "The directory or file specified does not exist on the Web server.",
		Module:  "IIS Web Core", Notification: "MapRequestHandler", Handler: "StaticFile", Code: "0x80070002",
	}
	errMethod = iisError{
		Status: 405, Title: "405 - HTTP verb used to access this page is not allowed.",
		Detail:  "The page you are looking for cannot be displayed because an invalid method (HTTP verb) was used to attempt access.",
		Reason:  "Method Not Allowed",
		Summary: "The page you are looking for cannot be displayed because an invalid method (HTTP verb) is being used.",
		Cause:   "The request sent to the Web server used an HTTP verb that is not allowed by the module configured to handle the request.",
		Module:  "IIS Web Core", Notification: "ExecuteRequestHandler", Handler: "ExtensionlessUrlHandler-Integrated-4.0", Code: "0x80070001",
	}
	// errSSLRequired is 403.4: the virtual directory has "Require SSL" set
	// (every Exchange virtual directory but Outlook Anywhere's).
	errSSLRequired = iisError{
		Status: 403, SubStatus: 4, Title: "403 - Forbidden: Access is denied.",
		Detail:  "You do not have permission to view this directory or page using the credentials that you supplied.",
		Reason:  "Forbidden",
		Summary: "The page you are trying to access is secured with Secure Sockets Layer (SSL).",
		Cause:   "SSL is required for the page you are trying to access. Use \"https://\" instead of \"http://\" in the address.",
		Module:  "IIS Web Core", Notification: "BeginRequest", Handler: "Not yet determined", Code: "0x80070005",
	}
	errForbidden = iisError{
		Status: 403, Title: "403 - Forbidden: Access is denied.",
		Detail:  "You do not have permission to view this directory or page using the credentials that you supplied.",
		Reason:  "Forbidden",
		Summary: "You do not have permission to view this directory or page.",
		Cause:   "The request was refused by the application.",
		Module:  "IIS Web Core", Notification: "ExecuteRequestHandler", Handler: "ExtensionlessUrlHandler-Integrated-4.0", Code: "0x80070005",
	}
	errInternal = iisError{
		Status: 500, Title: "500 - Internal server error.",
		Detail:  "There is a problem with the resource you are looking for, and it cannot be displayed.",
		Reason:  "Internal Server Error",
		Summary: "The page cannot be displayed because an internal server error has occurred.",
		Cause:   "The application failed while processing the request.",
		Module:  "ManagedPipelineHandler", Notification: "ExecuteRequestHandler", Handler: "ExtensionlessUrlHandler-Integrated-4.0", Code: "0x00000000",
	}
	errTooLarge = iisError{
		Status: 413, Title: "413 - Request Entity Too Large",
		Detail:  "The page was not displayed because the request entity is too large.",
		Reason:  "Request Entity Too Large",
		Summary: "The page was not displayed because the request entity is too large.",
		Cause:   "The Web server is refusing to service the request because the request entity is too large.",
		Module:  "RequestFilteringModule", Notification: "BeginRequest", Handler: "Not yet determined", Code: "0x00000000",
	}
)

var customErrorPage = template.Must(template.New("custerr").Parse(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>{{.Title}}</title>
<style type="text/css">
<!--
body{margin:0;font-size:.7em;font-family:Verdana, Arial, Helvetica, sans-serif;background:#EEEEEE;}
fieldset{padding:0 15px 10px 15px;} 
h1{font-size:2.4em;margin:0;color:#FFF;}
h2{font-size:1.7em;margin:0;color:#CC0000;} 
h3{font-size:1.2em;margin:10px 0 0 0;color:#000000;} 
#header{width:96%;margin:0 0 0 0;padding:6px 2% 6px 2%;font-family:"trebuchet MS", Verdana, sans-serif;color:#FFF;
background-color:#555555;}
#content{margin:0 0 0 2%;position:relative;}
.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;}
-->
</style>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>{{.Title}}</h2>
  <h3>{{.Detail}}</h3>
 </fieldset></div>
</div>
</body>
</html>
`))

var detailedErrorPage = template.Must(template.New("detailed").Parse(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<title>IIS 10.0 Detailed Error - {{.Code3}} - {{.Reason}}</title>
<style type="text/css">
<!--
body{margin:0;font-size:.7em;font-family:Verdana,Arial,Helvetica,sans-serif;}
code{margin:0;color:#006600;font-size:1.1em;font-weight:bold;}
.config_source code{font-size:.8em;color:#000000;}
pre{margin:0;font-size:1.4em;word-wrap:break-word;}
ul,ol{margin:10px 0 10px 5px;}
ul.first,ol.first{margin-top:5px;}
fieldset{padding:0 15px 10px 15px;word-break:break-all;}
.summary-container fieldset{padding-bottom:5px;margin-top:4px;}
legend.no-expand-all{padding:2px 15px 4px 10px;margin:0 0 0 -12px;}
legend{color:#333333;;margin:4px 0 8px -12px;_margin-top:0px;
font-weight:bold;font-size:1em;}
a:link,a:visited{color:#007EFF;font-weight:bold;}
a:hover{text-decoration:none;}
h1{font-size:2.4em;margin:0;color:#FFF;}
h2{font-size:1.7em;margin:0;color:#CC0000;}
h3{font-size:1.4em;margin:10px 0 0 0;color:#CC0000;}
h4{font-size:1.2em;margin:10px 0 5px 0;
}#header{width:96%;margin:0 0 0 0;padding:6px 2% 6px 2%;font-family:"trebuchet MS",Verdana,sans-serif;
 color:#FFF;background-color:#5C87B2;
}#content{margin:0 0 0 2%;position:relative;}
.summary-container,.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;}
.content-container p{margin:0 0 10px 0;
}#details-left{width:35%;float:left;margin-right:2%;
}#details-right{width:63%;float:left;overflow:hidden;
}#server_version{width:96%;_height:1px;min-height:1px;margin:0 0 5px 0;padding:11px 2% 8px 2%;color:#FFFFFF;
 background-color:#5A7FA5;border-bottom:1px solid #C1CFDD;border-top:1px solid #4A6C8E;font-weight:normal;
 font-size:1em;color:#FFF;text-align:right;
}#server_version p{margin:5px 0;}
table{margin:4px 0 4px 0;width:100%;border:none;}
td,th{vertical-align:top;padding:3px 0;text-align:left;font-weight:normal;border:none;}
th{width:30%;text-align:right;padding-right:2%;font-weight:bold;}
thead th{background-color:#ebebeb;width:25%;
}#details-right th{width:20%;}
table tr.alt td,table tr.alt th{}
.highlight-code{color:#CC0000;font-weight:bold;font-style:italic;}
.clear{clear:both;}
.preferred{padding:0 5px 2px 5px;font-weight:normal;background:#006633;color:#FFF;font-size:.8em;}
-->
</style>

</head>
<body>
<div id="content">
<div class="content-container">
  <h3>HTTP Error {{.Code3}} - {{.Reason}}</h3>
  <h4>{{.Summary}}</h4>
</div>
<div class="content-container">
 <fieldset><h4>Most likely causes:</h4>
  <ul> 	<li>{{.Cause}}</li> </ul>
 </fieldset>
</div>
<div class="content-container">
 <fieldset><h4>Detailed Error Information:</h4>
  <div id="details-left">
   <table border="0" cellpadding="0" cellspacing="0">
    <tr class="alt"><th>Module</th><td>&nbsp;&nbsp;&nbsp;{{.Module}}</td></tr>
    <tr><th>Notification</th><td>&nbsp;&nbsp;&nbsp;{{.Notification}}</td></tr>
    <tr class="alt"><th>Handler</th><td>&nbsp;&nbsp;&nbsp;{{.Handler}}</td></tr>
    <tr><th>Error Code</th><td>&nbsp;&nbsp;&nbsp;{{.Code}}</td></tr>
   </table>
  </div>
  <div id="details-right">
   <table border="0" cellpadding="0" cellspacing="0">
    <tr class="alt"><th>Requested URL</th><td>&nbsp;&nbsp;&nbsp;{{.URL}}</td></tr>
    <tr><th>Physical Path</th><td>&nbsp;&nbsp;&nbsp;{{.Path}}</td></tr>
    <tr class="alt"><th>Logon Method</th><td>&nbsp;&nbsp;&nbsp;Not yet determined</td></tr>
    <tr><th>Logon User</th><td>&nbsp;&nbsp;&nbsp;Not yet determined</td></tr>
   </table>
   <div class="clear"></div>
  </div>
 </fieldset>
</div>
<div class="content-container">
 <fieldset><h4>More Information:</h4>
  This error means that the request could not be completed by the Web server.
  <p><a href="https://go.microsoft.com/fwlink/?LinkID=62293&amp;IIS70Error={{.Status}},{{.SubStatus}},{{.Code}},10.0">View more information &raquo;</a></p>
 </fieldset>
</div>
</div>
</body>
</html>
`))

// writeIISError answers with e, as IIS would for this client.
func (c *config) writeIISError(w http.ResponseWriter, r *http.Request, e iisError) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	if !isLocalRequest(r) {
		customErrorPage.Execute(w, e) // a write error means the client left
		return
	}
	code3 := fmt.Sprintf("%d.%d", e.Status, e.SubStatus)
	detailedErrorPage.Execute(w, struct {
		iisError
		Code3, URL, Path string
	}{e, code3, c.requestURL(r), physicalPath(r)})
}

// physicalPath is where IIS would have looked for the file: Exchange's
// front-end virtual directories live under the HttpProxy folder.
func physicalPath(r *http.Request) string {
	p := strings.Trim(r.URL.Path, "/")
	return `C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\` + strings.ReplaceAll(p, "/", `\`)
}

// isLocalRequest reports whether the client is the server itself: its
// address is the address it connected to, as IIS decides for
// DetailedLocalOnly.
func isLocalRequest(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lh, _, err := net.SplitHostPort(la.String())
	if err != nil {
		return false
	}
	rh, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return lh == rh
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
