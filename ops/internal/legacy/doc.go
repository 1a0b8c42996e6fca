// Package legacy brings the data of the original Chillin-Chatroom (Node and
// Socket.io, which kept it in server/data/users.json, rooms.json and
// messages.json) into Chillin's log, as chillin-replay import-legacy does.
//
// It owns three steps, kept apart:
//
//   - Load and Parse* read the files and check them completely: a file that
//     is not JSON, is cut short, or holds a value of the wrong type stops
//     everything with a FileError naming the file, line, column and record,
//     before anything is appended.
//   - NewPlan is pure: from the files alone it decides which names become
//     users and rooms, the id each asks for (UsernameBase, RoomBase), the
//     order in which they claim ids, each fact's command id, and which
//     messages are left out (PROTOCOL.md's text rules) and why.
//   - Import does the I/O: it claims ids against the log (Candidate: the
//     first of base, base-2, … that is free or already holds this very
//     name's import) and appends what the log does not hold yet, through the
//     same subjects, create-only-if-absent rule and gap-free room seqs as
//     live traffic.
//
// It never deletes or rewrites anything in the log, never appends a fact
// whose command id the log already holds for that user or room, and never
// writes a legacy credential anywhere but the imported facts' legacy fields
// (events.UserImportedData.LegacySHA256, RoomCreatedData.LegacyPasswordSHA256),
// which the gateway and validator replace with argon2id at first use.
//
// Concurrency: Import runs one fact at a time and may run while the system
// is in use; two imports of the same data at once are not supported (each
// stays correct per fact, but the summary counts may disagree).
package legacy
