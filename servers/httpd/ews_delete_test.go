package httpd

import "testing"

// TestEWSSoftDeleteGolden: SoftDelete, and MoveToDeletedItems from Deleted
// Items, put items in Recoverable Items\Deletions, which clients read
// through the recoverableitemsdeletions distinguished folder and which
// stays out of the message folder tree; deleting there purges.
func TestEWSSoftDeleteGolden(t *testing.T) {
	_, ts := goldenServer(t, nil)
	const findDeletions = `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="recoverableitemsdeletions"/></m:ParentFolderIds></m:FindItem>`
	steps := []ewsStep{
		{"", findDeletions},
		{"", `<m:DeleteItem DeleteType="SoftDelete"><m:ItemIds><t:ItemId Id="{{item "INBOX" "1"}}"/></m:ItemIds></m:DeleteItem>`},
		{"", `<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds><t:ItemId Id="{{item "INBOX" "2"}}"/></m:ItemIds></m:DeleteItem>`},
		{"", `<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds><t:ItemId Id="{{item "Deleted Items" "6"}}"/></m:ItemIds></m:DeleteItem>`},
		{"", `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:ParentFolderId"/></t:AdditionalProperties></m:FolderShape>
			<m:FolderIds><t:DistinguishedFolderId Id="recoverableitemsdeletions"/><t:DistinguishedFolderId Id="deleteditems"/></m:FolderIds></m:GetFolder>`},
		{"", findDeletions},
		{"", `<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/></t:AdditionalProperties></m:FolderShape>
			<m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>`},
		{"", `<m:DeleteItem DeleteType="SoftDelete"><m:ItemIds><t:ItemId Id="{{item "Recoverable Items/Deletions" "5"}}"/></m:ItemIds></m:DeleteItem>`},
		{"", findDeletions},
	}
	replayEWS(t, ts, "softdelete", steps, nil)
}
