module github.com/chillin-chat/chillin/ui

go 1.26
