package httpd

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestEWSAttachGolden: CreateAttachment on a draft and on a delivered
// message, UpdateItem of Importance, Sensitivity and Body, and what
// DavMail asks: extended properties, a sort by the IMAP UID, and a
// MimeContent item sent to the recipients its headers name.
func TestEWSAttachGolden(t *testing.T) {
	fs, ts := goldenServer(t, nil)
	mime := base64.StdEncoding.EncodeToString([]byte("From: alice@contoso.com\r\nTo: bob@contoso.com\r\nBcc: carol@fabrikam.com\r\n" +
		"Subject: MIME only\r\nContent-Type: text/plain\r\n\r\nsent as MIME\r\n"))
	steps := []ewsStep{
		{"", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message><t:Subject>Draft with files</t:Subject>
			<t:Body BodyType="Text">see files</t:Body></t:Message></m:Items></m:CreateItem>`},
		{"", `<m:CreateAttachment><m:ParentItemId Id="{{item "Drafts" "5"}}"/><m:Attachments>
			<t:FileAttachment><t:Name>plan.txt</t:Name><t:Content>cGxhbiBB</t:Content></t:FileAttachment>
			<t:FileAttachment><t:Name>logo.png</t:Name><t:ContentType>image/png</t:ContentType><t:ContentId>logo1</t:ContentId><t:IsInline>true</t:IsInline><t:Content>iVBORw==</t:Content></t:FileAttachment>
			<t:ItemAttachment><t:Name>nested</t:Name></t:ItemAttachment></m:Attachments></m:CreateAttachment>`},
		{"", `<m:CreateAttachment><m:ParentItemId Id="{{item "INBOX" "4"}}"/><m:Attachments>
			<t:FileAttachment><t:Name>second.csv</t:Name><t:ContentType>text/csv</t:ContentType><t:Content>cTIsMjAw</t:Content></t:FileAttachment></m:Attachments></m:CreateAttachment>`},
		{"", `<m:CreateAttachment><m:ParentItemId Id="{{item "INBOX" "99"}}"/><m:Attachments>
			<t:FileAttachment><t:Name>x.txt</t:Name><t:Content>eA==</t:Content></t:FileAttachment></m:Attachments></m:CreateAttachment>`},
		{"", `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:Attachments"/>
			<t:FieldURI FieldURI="item:HasAttachments"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{{item "Drafts" "5"}}"/><t:ItemId Id="{{item "INBOX" "4"}}"/></m:ItemIds></m:GetItem>`},
		{"", `<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="{{att "INBOX" "4" 1}}"/></m:AttachmentIds></m:GetAttachment>`},
		{"", `<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{{item "INBOX" "4"}}"/><t:Updates>
			<t:SetItemField><t:FieldURI FieldURI="item:Importance"/><t:Message><t:Importance>High</t:Importance></t:Message></t:SetItemField>
			<t:SetItemField><t:FieldURI FieldURI="item:Sensitivity"/><t:Message><t:Sensitivity>Confidential</t:Sensitivity></t:Message></t:SetItemField>
			<t:SetItemField><t:FieldURI FieldURI="item:Body"/><t:Message><t:Body BodyType="HTML">&lt;p&gt;New budget&lt;/p&gt;</t:Body></t:Message></t:SetItemField>
			</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`},
		{"", `<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{{item "INBOX" "4"}}"/><t:Updates>
			<t:SetItemField><t:FieldURI FieldURI="item:Importance"/><t:Message><t:Importance>Urgent</t:Importance></t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`},
		{"", `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Importance"/><t:FieldURI FieldURI="item:Sensitivity"/>
			<t:FieldURI FieldURI="item:Body"/><t:FieldURI FieldURI="item:HasAttachments"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{{item "INBOX" "4"}}"/></m:ItemIds></m:GetItem>`},
		{"", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
			<t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/><t:FieldURI FieldURI="message:IsRead"/><t:ExtendedFieldURI PropertyTag="0xe08" PropertyType="Integer"/>
			<t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/><t:ExtendedFieldURI PropertyTag="0xe07" PropertyType="Integer"/><t:ExtendedFieldURI PropertyTag="0xe06" PropertyType="SystemTime"/>
			<t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/><t:ExtendedFieldURI PropertyTag="0x1081" PropertyType="Integer"/></t:AdditionalProperties></m:ItemShape>
			<m:Restriction><t:IsGreaterThan><t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/><t:FieldURIOrConstant><t:Constant Value="1"/></t:FieldURIOrConstant></t:IsGreaterThan></m:Restriction>
			<m:SortOrder><t:FieldOrder Order="Ascending"><t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/></t:FieldOrder></m:SortOrder>
			<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`},
		{"", `<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId>
			<m:Items><t:Message><t:MimeContent>` + mime + `</t:MimeContent></t:Message></m:Items></m:CreateItem>`},
	}
	replayEWS(t, ts, "attach", steps, nil)
	if len(fs.sent) != 1 || strings.Join(fs.sent[0].rcpts, ",") != "bob@contoso.com,carol@fabrikam.com" || strings.Contains(string(fs.sent[0].msg), "Bcc:") {
		t.Errorf("MIME submission = %+v", fs.sent)
	}
}
