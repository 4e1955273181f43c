//! Attachments end to end: real `kith` processes and a real `kith-server`
//! on 127.0.0.1; pictures cleaned of metadata and turned upright, files
//! byte for byte, downloads that resume, hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The GPS latitude written into the test photo (48° 51' 29.64"): its bytes
/// must not survive sending.
const LATITUDE: [(u32, u32); 3] = [(48, 1), (51, 1), (2964, 100)];

fn latitude_bytes() -> Vec<u8> {
    LATITUDE
        .iter()
        .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
        .collect()
}

/// A 40x20 JPEG whose left half is red, with EXIF saying "rotate 90° clockwise
/// to display" and a GPS position.
fn photo_with_exif() -> Vec<u8> {
    let picture = RgbImage::from_fn(40, 20, |x, _| if x < 20 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
    let mut jpeg = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    // TIFF, little-endian: IFD0 (orientation, GPS pointer) at 8, GPS IFD at
    // 38 (latitude ref, latitude), its rationals at 68.
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0112, 3, 1, [6, 0, 0, 0]);
    entry(&mut tiff, 0x8825, 4, 1, 38u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(tiff.len(), 38);
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, 5, 3, 68u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(tiff.len(), 68);
    tiff.extend_from_slice(&latitude_bytes());
    let mut app1 = vec![0xff, 0xe1];
    app1.extend_from_slice(&u16::try_from(2 + 6 + tiff.len()).unwrap().to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Bytes that look random (so the server's files cannot contain them by chance).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

struct Pair {
    server: ServerProcess,
    alice: PathBuf,
    bob: PathBuf,
    chat: String,
    files: PathBuf,
    _homes: [tempfile::TempDir; 4],
}

fn pair() -> Pair {
    let server_home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&server_home.path().join("data"));
    let (alice_home, alice) = new_profile("Alice");
    let (bob_home, bob) = new_profile("Bob");
    befriend(&alice, &bob, &server);
    let chat = kith_json(
        &alice,
        &["chat", "new", "--name", "Photos", "--member", &account_of(&bob)],
    )["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&alice, &server);
    sync(&bob, &server);
    let files = tempfile::tempdir().unwrap();
    Pair {
        server,
        alice,
        bob,
        chat,
        files: files.path().to_path_buf(),
        _homes: [server_home, alice_home, bob_home, files],
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The partial file of the download under way (not its lock file).
fn partial_file_of(profile: &Path) -> Option<PathBuf> {
    std::fs::read_dir(profile.join("blobs").join("partial"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|path| path.extension().is_none())
}

/// Bob's `kith save` of `message` into `out`, paced to `rate` bytes a second.
fn slow_save(p: &Pair, message: &str, out: &Path, rate: u64) -> std::process::Child {
    let rate = rate.to_string();
    kith_cmd(
        &p.bob,
        &[
            "--json",
            "save",
            &p.chat,
            message,
            out.to_str().unwrap(),
            "--rate-limit",
            &rate,
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap()
}

/// Waits until the download under way has `bytes` on disk; its partial file.
fn partial_file_reaching(profile: &Path, bytes: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(file) = partial_file_of(profile)
            && std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) >= bytes
        {
            return file;
        }
        assert!(Instant::now() < deadline, "the download never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hash_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn a_photo_and_a_big_file_reach_the_other_device_through_the_server() {
    let p = pair();
    let photo = write(&p.files, "holiday.jpg", &photo_with_exif());
    let big = noise(20 * 1024 * 1024, 7);
    let big_path = write(&p.files, "data.bin", &big);
    let sent = kith_json(
        &p.alice,
        &[
            "send",
            &p.chat,
            "from the beach",
            "--attach",
            photo.to_str().unwrap(),
            "--attach",
            big_path.to_str().unwrap(),
        ],
    );
    let message = sent["message_id"].as_str().unwrap().to_owned();
    let report = sync(&p.alice, &p.server);
    assert_eq!(report["report"]["blobs_uploaded"], 2, "{report}");

    let report = sync(&p.bob, &p.server);
    // The photo comes with the sync; the 20 MB file waits to be opened.
    assert_eq!(report["report"]["blobs_downloaded"], 1, "{report}");
    let listed = kith_json(&p.bob, &["attachments", &p.chat]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let picture = &listed[0];
    assert_eq!(picture["kind"], "image");
    assert_eq!(picture["mime"], "image/jpeg");
    assert_eq!(picture["name"], "holiday.jpg");
    assert_eq!(picture["downloaded"], true);
    assert_eq!(picture["has_thumbnail"], true);
    // Upright: the 40x20 photo was to be shown rotated a quarter turn.
    assert_eq!(
        (picture["width"].as_u64(), picture["height"].as_u64()),
        (Some(20), Some(40))
    );
    let file = &listed[1];
    assert_eq!(file["kind"], "file");
    assert_eq!(file["size"], big.len());
    assert_eq!(file["downloaded"], false);
    let messages = kith_json(&p.bob, &["messages", &p.chat]);
    let shown = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message.as_str())
        .unwrap();
    assert_eq!(shown["text"], "from the beach");
    assert_eq!(shown["attachments"].as_array().unwrap().len(), 2);

    // The picture as Bob has it: no EXIF (no position), turned upright.
    let out = tempfile::tempdir().unwrap();
    let saved = kith_json(&p.bob, &["save", &p.chat, &message, out.path().to_str().unwrap()]);
    let saved_bytes = std::fs::read(saved["path"].as_str().unwrap()).unwrap();
    assert_eq!(saved["hash"], hash_hex(&saved_bytes));
    assert!(!contains(&saved_bytes, b"Exif"), "EXIF survived");
    assert!(!contains(&saved_bytes, &latitude_bytes()), "the GPS position survived");
    let upright = image::load_from_memory(&saved_bytes).unwrap().to_rgb8();
    assert_eq!(upright.dimensions(), (20, 40));
    let top = upright.get_pixel(10, 5);
    let bottom = upright.get_pixel(10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top is red: {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom is blue: {bottom:?}");

    // The big file, fetched when saved: byte for byte.
    let saved = kith_json(
        &p.bob,
        &["save", &p.chat, &message, "--index", "1", out.path().to_str().unwrap()],
    );
    assert_eq!(saved["fetched"], big.len());
    let bytes = std::fs::read(saved["path"].as_str().unwrap()).unwrap();
    assert_eq!(hash_hex(&bytes), hash_hex(&big));
    assert_eq!(
        Path::new(saved["path"].as_str().unwrap()).file_name().unwrap(),
        "data.bin"
    );

    // Nothing the server keeps holds the plaintext of either attachment.
    let files = read_all_files(&p.server.data);
    assert!(!files.is_empty());
    let probe = &big[5_000_000..5_000_064];
    for (path, content) in &files {
        assert!(
            !contains(content, probe),
            "{} holds plaintext of the file",
            path.display()
        );
        assert!(
            !contains(content, &saved_bytes[200..264]),
            "{} holds plaintext of the photo",
            path.display()
        );
        assert!(
            !contains(content, b"holiday"),
            "{} holds an attachment's name",
            path.display()
        );
    }
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let p = pair();
    // Over the automatic-download size: fetched only when saved.
    let big = noise(20 * 1024 * 1024, 11);
    let path = write(&p.files, "archive.bin", &big);
    let message = kith_json(
        &p.alice,
        &["send", &p.chat, "--attach", path.to_str().unwrap(), "--as-file"],
    )["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let out = tempfile::tempdir().unwrap();
    let out_file = out.path().join("copy.bin");
    // A slow fetch (2 MiB/s), killed once a third of it is on disk.
    let mut slow = slow_save(&p, &message, &out_file, 2 * 1024 * 1024);
    let partial_file = partial_file_reaching(&p.bob, 4 * 1024 * 1024);
    slow.kill().unwrap();
    slow.wait().unwrap();
    let left = std::fs::metadata(&partial_file).unwrap().len();
    assert!(left < big.len() as u64, "killed before the end");
    assert!(!out_file.exists(), "nothing saved from a half download");

    let saved = kith_json(&p.bob, &["save", &p.chat, &message, out_file.to_str().unwrap()]);
    let resumed = saved["resumed_from"].as_u64().unwrap();
    assert!(
        resumed >= 3 * 1024 * 1024,
        "resumed from {resumed}, {left} were on disk"
    );
    assert!(resumed <= left);
    assert_eq!(saved["fetched"].as_u64().unwrap(), big.len() as u64 - resumed);
    assert_eq!(hash_hex(&std::fs::read(&out_file).unwrap()), hash_hex(&big));
}

#[test]
fn bad_attachments_are_refused_clearly_and_hostile_names_are_made_safe() {
    let p = pair();
    // A picture that does not decode.
    let mut corrupt = b"\x89PNG\r\n\x1a\n".to_vec();
    corrupt.extend_from_slice(&[0x55; 300]);
    let corrupt_path = write(&p.files, "broken.png", &corrupt);
    let err = kith_fails(
        &p.alice,
        &["send", &p.chat, "look", "--attach", corrupt_path.to_str().unwrap()],
    );
    assert!(err.contains("not a picture") && err.contains("as a file"), "{err}");
    // A decompression bomb: a PNG that claims 60000 x 60000 pixels.
    let bomb_path = write(&p.files, "bomb.png", &png_claiming(60_000, 60_000));
    let err = kith_fails(
        &p.alice,
        &["send", &p.chat, "boom", "--attach", bomb_path.to_str().unwrap()],
    );
    assert!(err.contains("not a picture"), "{err}");
    // Over the size limit: refused before it is read.
    let huge = p.files.join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(kith_client::MAX_ATTACHMENT_BYTES + 1)
        .unwrap();
    let err = kith_fails(&p.alice, &["send", &p.chat, "--attach", huge.to_str().unwrap()]);
    assert!(err.contains("limited to"), "{err}");
    // None of them left a message behind.
    assert!(
        kith_json(&p.alice, &["messages", &p.chat])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A file whose name tries to climb out of the download directory.
    let evil = write(&p.files, "..%2f..%2fevil.txt", b"harmless");
    let message = kith_json(&p.alice, &["send", &p.chat, "--attach", evil.to_str().unwrap()])["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let out = tempfile::tempdir().unwrap();
    let inner = out.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    let saved = kith_json(&p.bob, &["save", &p.chat, &message, inner.to_str().unwrap()]);
    let path = PathBuf::from(saved["path"].as_str().unwrap());
    assert_eq!(
        path.parent().unwrap(),
        inner,
        "saved inside the directory: {}",
        path.display()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"harmless");
    // The message still works for everything else.
    assert!(kith_json(&p.bob, &["attachments", &p.chat])[0]["downloaded"] == true);
}

/// A PNG whose header claims `width` x `height` with almost no data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn value_is_json() {
    // `attachments` on a chat with none is an empty array, not an error.
    let (_home, alice) = new_profile("Alice");
    let chat = new_chat(&alice, "Empty");
    let listed: Value = kith_json(&alice, &["attachments", &chat]);
    assert_eq!(listed, Value::Array(Vec::new()));
}

#[test]
fn deleting_a_message_removes_its_files_on_both_devices() {
    let p = pair();
    let photo = write(&p.files, "gone.jpg", &photo_with_exif());
    let message = kith_json(&p.alice, &["send", &p.chat, "--attach", photo.to_str().unwrap()])["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let hash = kith_json(&p.bob, &["attachments", &p.chat])[0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice_file = p.alice.join("blobs").join(&hash);
    let bob_file = p.bob.join("blobs").join(&hash);
    assert!(alice_file.is_file() && bob_file.is_file());
    kith(&p.alice, &["delete", &p.chat, &message]);
    assert!(!alice_file.exists(), "the sender's copy goes with the message");
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    assert!(!bob_file.exists(), "the receiver's copy goes at its next sync");
    assert!(
        kith_json(&p.bob, &["attachments", &p.chat])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn two_fetches_of_one_file_do_not_write_one_partial_file() {
    let p = pair();
    // Over the automatic-download size: fetched only when saved.
    let big = noise(18 * 1024 * 1024, 12);
    let path = write(&p.files, "film.bin", &big);
    let message = kith_json(&p.alice, &["send", &p.chat, "--attach", path.to_str().unwrap()])["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let out = tempfile::tempdir().unwrap();
    // A slow fetch (3 MiB/s) in one process...
    let slow = slow_save(&p, &message, out.path(), 3 * 1024 * 1024);
    partial_file_reaching(&p.bob, 1024 * 1024);
    // ...and a second one of the same file is told so, and writes nothing.
    let other = out.path().join("second");
    std::fs::create_dir_all(&other).unwrap();
    let refused = kith_fails(&p.bob, &["save", &p.chat, &message, other.to_str().unwrap()]);
    assert!(refused.contains("already being fetched"), "{refused}");
    assert!(
        std::fs::read_dir(&other).unwrap().next().is_none(),
        "the second fetch wrote a file"
    );
    // The first one ends with the right bytes.
    let done = slow.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(
        hash_hex(&std::fs::read(out.path().join("film.bin")).unwrap()),
        hash_hex(&big)
    );
    // Once it is here, saving again needs no fetch at all.
    let again = kith_json(&p.bob, &["save", &p.chat, &message, other.to_str().unwrap()]);
    assert_eq!(again["fetched"], 0);
}

/// A mono 16-bit WAV of `seconds` seconds: silence, then a loud tone.
fn wav(seconds: u32) -> Vec<u8> {
    let rate = 8000u32;
    let frames = rate * seconds;
    let data: Vec<u8> = (0..frames)
        .flat_map(|i| {
            {
                let loud = if i < frames / 2 { 0.0 } else { 30000.0 };
                ((f64::from(i) * 0.1).sin() * loud) as i16
            }
            .to_le_bytes()
        })
        .collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

#[test]
fn a_voice_note_arrives_with_its_length_and_waveform() {
    let p = pair();
    let note = wav(3);
    let path = write(&p.files, "note.wav", &note);
    let message = kith_json(&p.alice, &["send", &p.chat, "--voice", path.to_str().unwrap()])["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let listed = kith_json(&p.bob, &["attachments", &p.chat]);
    let voice = &listed.as_array().unwrap()[0];
    assert_eq!(voice["kind"], "voice");
    assert_eq!(voice["mime"], "audio/wav");
    assert_eq!(voice["duration_ms"], 3000);
    assert_eq!(voice["downloaded"], true);
    // Quiet first half, loud second half.
    let waveform: Vec<u64> = voice["waveform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(waveform.len(), 64);
    assert!(waveform[..30].iter().all(|v| *v == 0), "{waveform:?}");
    assert!(waveform[34..].iter().all(|v| *v > 200), "{waveform:?}");
    let out = tempfile::tempdir().unwrap();
    let saved = kith_json(&p.bob, &["save", &p.chat, &message, out.path().to_str().unwrap()]);
    assert_eq!(
        hash_hex(&std::fs::read(saved["path"].as_str().unwrap()).unwrap()),
        hash_hex(&note)
    );

    // What is not a recording is refused, and no message is left behind.
    let text = write(&p.files, "notes.txt", b"not audio");
    let before = kith_json(&p.alice, &["messages", &p.chat]).as_array().unwrap().len();
    let refused = kith_fails(&p.alice, &["send", &p.chat, "--voice", text.to_str().unwrap()]);
    assert!(refused.contains("cannot be sent as a voice note"), "{refused}");
    assert_eq!(
        kith_json(&p.alice, &["messages", &p.chat]).as_array().unwrap().len(),
        before
    );
}

#[test]
fn a_video_arrives_converted_with_its_poster_length_and_no_location() {
    use kith_testkit::video::{LOCATION, write_clip};
    let p = pair();
    let clip = p.files.join("holiday.mov");
    write_clip(&clip, 2, 640, 360).unwrap();
    assert!(contains(&std::fs::read(&clip).unwrap(), LOCATION.as_bytes()));
    let message = kith_json(
        &p.alice,
        &["send", &p.chat, "Look!", "--attach", clip.to_str().unwrap()],
    )["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&p.alice, &p.server);
    sync(&p.bob, &p.server);
    let listed = kith_json(&p.bob, &["attachments", &p.chat]);
    let video = &listed.as_array().unwrap()[0];
    assert_eq!(video["kind"], "video", "{video}");
    assert_eq!(video["mime"], "video/webm");
    assert_eq!(video["name"], "holiday.webm");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(640), Some(360))
    );
    let duration = video["duration_ms"].as_u64().unwrap();
    assert!((1900..=2100).contains(&duration), "{duration} ms");
    assert_eq!(video["has_thumbnail"], true);

    // The poster frame is a picture of the video's shape, inside the message.
    let out = tempfile::tempdir().unwrap();
    let poster_path = out.path().join("poster.jpg");
    kith_json(
        &p.bob,
        &["save", &p.chat, &message, poster_path.to_str().unwrap(), "--thumbnail"],
    );
    let poster = image::load_from_memory(&std::fs::read(&poster_path).unwrap()).unwrap();
    assert_eq!(poster.width(), 320);
    assert_eq!(poster.height(), 180);

    // The video itself: WebM, no location anywhere in it.
    let saved = kith_json(&p.bob, &["save", &p.chat, &message, out.path().to_str().unwrap()]);
    let bytes = std::fs::read(saved["path"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]), "WebM");
    assert!(!contains(&bytes, LOCATION.as_bytes()), "the location was sent");
    // Sent as a file, it goes unchanged (the person chose to).
    let as_file = kith_json(
        &p.alice,
        &["send", &p.chat, "--attach", clip.to_str().unwrap(), "--as-file"],
    );
    assert!(as_file["message_id"].is_string());
    let listed = kith_json(&p.alice, &["attachments", &p.chat]);
    assert_eq!(listed.as_array().unwrap()[1]["kind"], "file");

    // What only claims to be a video is refused, and no message is left.
    let fake = write(&p.files, "fake.mp4", b"\0\0\0\x18ftypmp42 not a video at all");
    let before = kith_json(&p.alice, &["messages", &p.chat]).as_array().unwrap().len();
    let refused = kith_fails(&p.alice, &["send", &p.chat, "--attach", fake.to_str().unwrap()]);
    assert!(refused.contains("cannot be sent as a video"), "{refused}");
    assert_eq!(
        kith_json(&p.alice, &["messages", &p.chat]).as_array().unwrap().len(),
        before
    );
}
