//! Group pictures: set by a group's admins and owners, kept in the
//! conversation's head document as a 256 px JPEG made by the same code as
//! profile pictures, so every member's devices get it with the head.

use crate::chats::Chats;
use crate::error::ClientError;
use kith_core::docs::head;
use kith_proto::{ChatId, DocId};

impl Chats<'_> {
    /// Sets a group's picture from an image file's bytes (JPEG, PNG, GIF or
    /// WebP, any size and orientation; it is made a 256 px JPEG without
    /// metadata), or removes it with `None`. Admins and owners of groups only;
    /// a direct chat has no picture. A picture that cannot be used changes
    /// nothing.
    pub fn set_avatar(&self, chat: &ChatId, picture: Option<&[u8]>) -> Result<(), ClientError> {
        self.profile.require_chat(chat)?;
        let me = self.profile.identity().account_id();
        // Refuse before decoding: a large picture takes a while to decode,
        // and a member without the right should hear so at once.
        self.profile
            .with_cached_doc(DocId::Head(*chat), |doc| head::may_set_avatar(doc, &me))??;
        let avatar = picture
            .map(crate::avatar::prepare_avatar)
            .transpose()
            .map_err(ClientError::Avatar)?;
        self.profile.write(|ctx| {
            head::set_avatar(ctx.doc(DocId::Head(*chat))?, &me, avatar.as_deref())?;
            Ok(())
        })
    }

    /// A group's picture (a 256 px JPEG), or `None` when it has none. A
    /// stored picture that is not what this build writes (another device's
    /// bug, or a hostile admin's decompression bomb) is not handed out.
    pub fn avatar(&self, chat: &ChatId) -> Result<Option<Vec<u8>>, ClientError> {
        self.profile.require_chat(chat)?;
        let Some(bytes) = self.profile.with_cached_doc(DocId::Head(*chat), head::avatar)? else {
            return Ok(None);
        };
        if crate::avatar::is_stored_avatar(&bytes) {
            Ok(Some(bytes))
        } else {
            tracing::warn!(%chat, "ignored a group picture that is not a 256 px JPEG");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::profile::Profile;
    use kith_core::{ChatKind, Identity};
    use std::io::Cursor;
    use std::sync::Arc;

    fn alice() -> Profile {
        let identity = Identity::create([[1; 32], [101; 32], [201; 32]], 1_795_000_000_000);
        Profile::with_store(identity, Arc::new(kith_store::MemoryStore::new()), "Alice").unwrap()
    }

    fn picture(side: u32, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::from_pixel(side, side, image::Rgb([10, 20, 30]))
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    fn has_avatar(profile: &Profile, chat: &ChatId) -> bool {
        profile.chats().summary(chat).unwrap().has_avatar
    }

    #[test]
    fn a_group_picture_is_set_listed_read_and_removed() {
        let profile = alice();
        let chat = profile.chats().create("Club", &[], ChatKind::Group).unwrap();
        assert!(!has_avatar(&profile, &chat));
        assert_eq!(profile.chats().avatar(&chat).unwrap(), None);

        profile
            .chats()
            .set_avatar(&chat, Some(&picture(600, image::ImageFormat::Png)))
            .unwrap();
        assert!(has_avatar(&profile, &chat));
        let stored = profile.chats().avatar(&chat).unwrap().expect("a picture");
        let decoded = image::load_from_memory(&stored).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));

        let err = profile.chats().set_avatar(&chat, Some(b"not a picture")).unwrap_err();
        assert!(matches!(err, ClientError::Avatar(_)), "{err}");
        assert_eq!(
            profile.chats().avatar(&chat).unwrap(),
            Some(stored),
            "a bad file changes nothing"
        );

        profile.chats().set_avatar(&chat, None).unwrap();
        assert!(!has_avatar(&profile, &chat));
        assert_eq!(profile.chats().avatar(&chat).unwrap(), None);
        // Removing what is not there is fine.
        profile.chats().set_avatar(&chat, None).unwrap();

        let unknown = ChatId::from_bytes([9; 16]);
        assert!(matches!(
            profile.chats().avatar(&unknown),
            Err(ClientError::NoSuchChat(_))
        ));
    }

    #[test]
    fn a_stored_picture_this_build_would_not_write_is_not_handed_out() {
        let profile = alice();
        let chat = profile.chats().create("Club", &[], ChatKind::Group).unwrap();
        // What another device could store: a JPEG of another size (or a
        // header claiming a huge one), within the byte limit.
        let odd = picture(512, image::ImageFormat::Jpeg);
        let me = profile.identity().account_id();
        profile
            .write(|ctx| {
                head::set_avatar(ctx.doc(DocId::Head(chat))?, &me, Some(&odd))?;
                Ok(())
            })
            .unwrap();
        assert!(has_avatar(&profile, &chat));
        assert_eq!(profile.chats().avatar(&chat).unwrap(), None);
    }
}
