-- Every checkpoint the platform signs is kept (issue 16): witnesses and verifiers ask for
-- the latest or any past one by size. The size is the key, so the database itself refuses
-- a second checkpoint of the same size, which could carry another root (a split view); a
-- new checkpoint is checked against its predecessor by a consistency proof before it is
-- stored (src/audit/kept.rs).
create table audit_checkpoint (
    size       integer primary key,
    -- RFC 9162 root hash of the first `size` leaves
    root       blob not null,
    -- the signed note (C2SP tlog-checkpoint) exactly as signed by the platform key
    note       text not null,
    created_at integer not null
);

-- Witness cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1) of a kept
-- checkpoint, from witness keys the configuration trusts.
create table audit_cosignature (
    size        integer not null references audit_checkpoint(size),
    witness     text not null,
    -- hex of the 4-byte cosignature key id
    key_id      text not null,
    -- the note signature line as the witness wrote it, without its newline
    line        text not null,
    -- the witness's own timestamp in the cosignature (seconds since the epoch)
    cosigned_at integer not null,
    received_at integer not null,
    primary key (size, witness, key_id)
);

create trigger audit_checkpoint_no_update before update on audit_checkpoint
begin select raise(abort, 'checkpoints are append-only'); end;
create trigger audit_checkpoint_no_delete before delete on audit_checkpoint
begin select raise(abort, 'checkpoints are append-only'); end;
create trigger audit_cosignature_no_update before update on audit_cosignature
begin select raise(abort, 'cosignatures are append-only'); end;
create trigger audit_cosignature_no_delete before delete on audit_cosignature
begin select raise(abort, 'cosignatures are append-only'); end;
