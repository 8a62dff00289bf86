//! Growing the data partition into a bigger disk. An operator who gives the
//! appliance's virtual disk more room (`qemu-img resize`, a bigger VMDK in
//! vSphere, a bigger physical disk for a copied image) gets it for the
//! database and the log archive at the next boot.
//!
//! Two steps, each done only when needed and safe to repeat after a power
//! cut at any point:
//! 1. The GPT. The backup table moves to the disk's new end, the data
//!    partition (it must be the last one) ends at the new last usable
//!    sector, aligned down to 1 MiB, and the kernel learns the partition's
//!    new size by `BLKPG_RESIZE_PARTITION`, which works while it is mounted.
//!    The backup table is written and synced before the primary one, so
//!    either the old or the new layout is whole on disk.
//! 2. The ext4 file system, grown online (`EXT4_IOC_RESIZE_FS`) to fill the
//!    partition. The kernel journals the resize.
//!
//! A disk that shrank, a table that fails its checksums, or a data
//! partition that is not the last one is left untouched and reported.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Partitions end on a 1 MiB boundary (the last sector before one).
const ALIGN_BYTES: u64 = 1 << 20;

/// A parsed GPT header (the fields this module uses).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    raw: Vec<u8>,
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

impl Header {
    /// Parses and checks a header sector (signature, size, CRC).
    fn parse(sector: &[u8]) -> anyhow::Result<Header> {
        if sector.len() < 92 || &sector[..8] != GPT_SIGNATURE {
            bail!("no GPT header (signature missing)");
        }
        let size = u32_at(sector, 12) as usize;
        if !(92..=sector.len()).contains(&size) {
            bail!("GPT header size {size} is out of range");
        }
        let mut raw = sector[..size].to_vec();
        let crc = u32_at(&raw, 16);
        put_u32(&mut raw, 16, 0);
        if crc32fast::hash(&raw) != crc {
            bail!("GPT header checksum mismatch");
        }
        let h = Header {
            my_lba: u64_at(&raw, 24),
            alternate_lba: u64_at(&raw, 32),
            first_usable: u64_at(&raw, 40),
            last_usable: u64_at(&raw, 48),
            entries_lba: u64_at(&raw, 72),
            entry_count: u32_at(&raw, 80),
            entry_size: u32_at(&raw, 84),
            entries_crc: u32_at(&raw, 88),
            raw,
        };
        if h.entry_size < 128 || h.entry_size % 8 != 0 || h.entry_count == 0 || h.entry_count > 4096
        {
            bail!(
                "GPT partition array of {} entries of {} bytes is not supported",
                h.entry_count,
                h.entry_size
            );
        }
        Ok(h)
    }

    fn entries_len(&self) -> usize {
        self.entry_count as usize * self.entry_size as usize
    }

    /// The header bytes for a copy at `my_lba`, with its CRC.
    fn encode(&self, sector: usize) -> Vec<u8> {
        let mut b = self.raw.clone();
        put_u64(&mut b, 24, self.my_lba);
        put_u64(&mut b, 32, self.alternate_lba);
        put_u64(&mut b, 40, self.first_usable);
        put_u64(&mut b, 48, self.last_usable);
        put_u64(&mut b, 72, self.entries_lba);
        put_u32(&mut b, 88, self.entries_crc);
        put_u32(&mut b, 16, 0);
        let crc = crc32fast::hash(&b);
        put_u32(&mut b, 16, crc);
        b.resize(sector, 0);
        b
    }
}

/// What growing the partition table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableGrowth {
    /// The partition's first sector.
    pub start_lba: u64,
    /// Its last sector before and after.
    pub old_end_lba: u64,
    pub new_end_lba: u64,
    pub sector: u64,
}

impl TableGrowth {
    pub fn old_bytes(&self) -> u64 {
        (self.old_end_lba + 1 - self.start_lba) * self.sector
    }

    pub fn new_bytes(&self) -> u64 {
        (self.new_end_lba + 1 - self.start_lba) * self.sector
    }
}

fn read_at<D: Read + Seek>(d: &mut D, at: u64, len: usize) -> io::Result<Vec<u8>> {
    d.seek(SeekFrom::Start(at))?;
    let mut b = vec![0u8; len];
    d.read_exact(&mut b)?;
    Ok(b)
}

fn write_at<D: Write + Seek>(d: &mut D, at: u64, bytes: &[u8]) -> io::Result<()> {
    d.seek(SeekFrom::Start(at))?;
    d.write_all(bytes)
}

/// Something the table is written to: a disk device or an image file.
pub trait Disk: Read + Write + Seek {
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl Disk for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Moves the backup GPT to the end of a disk of `disk_bytes` and extends
/// partition `number` (1-based, it must end last) to the new last usable
/// sector. `None` when the table already reaches the disk's end.
pub fn grow_table<D: Disk>(
    disk: &mut D,
    disk_bytes: u64,
    sector: u64,
    number: u32,
) -> anyhow::Result<Option<TableGrowth>> {
    if !(512..=4096).contains(&sector) || !sector.is_power_of_two() {
        bail!("sector size {sector} is not supported");
    }
    let ss = sector as usize;
    let last_lba = disk_bytes / sector - 1;
    let primary = Header::parse(&read_at(disk, sector, ss).context("reading the GPT header")?)
        .context("primary GPT header")?;
    if primary.my_lba != 1 {
        bail!("primary GPT header says it is at sector {}", primary.my_lba);
    }
    if primary.alternate_lba == last_lba {
        return Ok(None);
    }
    if primary.alternate_lba > last_lba {
        bail!(
            "the disk is smaller than its partition table says (backup header at sector {}, last sector {last_lba}): left alone",
            primary.alternate_lba
        );
    }
    let mut entries = read_at(disk, primary.entries_lba * sector, primary.entries_len())
        .context("reading the GPT partition array")?;
    if crc32fast::hash(&entries) != primary.entries_crc {
        bail!("GPT partition array checksum mismatch");
    }
    let esz = primary.entry_size as usize;
    let idx = number
        .checked_sub(1)
        .filter(|&i| i < primary.entry_count)
        .with_context(|| format!("partition {number} is not in the table"))? as usize;
    let entry = |i: usize| &entries[i * esz..(i + 1) * esz];
    let used = |e: &[u8]| e[..16].iter().any(|&b| b != 0);
    if !used(entry(idx)) {
        bail!("partition {number} is empty in the table");
    }
    let (start, old_end) = (u64_at(entry(idx), 32), u64_at(entry(idx), 40));
    for i in (0..primary.entry_count as usize).filter(|&i| i != idx) {
        if used(entry(i)) && u64_at(entry(i), 40) > old_end {
            bail!(
                "partition {} lies after partition {number}: it cannot grow",
                i + 1
            );
        }
    }

    let array_sectors = (primary.entries_len() as u64).div_ceil(sector);
    let backup_entries_lba = last_lba - array_sectors;
    let last_usable = backup_entries_lba - 1;
    if last_usable <= primary.last_usable {
        bail!("the disk grew by less than the backup partition table");
    }
    let per_align = (ALIGN_BYTES / sector).max(1);
    let aligned_end = ((last_usable + 1) / per_align * per_align).saturating_sub(1);
    let new_end = aligned_end.max(old_end);
    put_u64(&mut entries[idx * esz..], 40, new_end);
    let entries_crc = crc32fast::hash(&entries);

    let old_backup_lba = primary.alternate_lba;
    let backup = Header {
        my_lba: last_lba,
        alternate_lba: 1,
        last_usable,
        entries_lba: backup_entries_lba,
        entries_crc,
        ..primary.clone()
    };
    let new_primary = Header {
        alternate_lba: last_lba,
        last_usable,
        entries_crc,
        ..primary.clone()
    };
    // The new backup first (it lands in space no table used), then the
    // primary: a cut in between leaves the old primary, still whole.
    write_at(disk, backup_entries_lba * sector, &entries)?;
    write_at(disk, last_lba * sector, &backup.encode(ss))?;
    disk.sync()?;
    write_at(disk, primary.entries_lba * sector, &entries)?;
    write_at(disk, sector, &new_primary.encode(ss))?;
    disk.sync()?;
    // The old backup header now lies inside the partition, past the end of
    // its file system: wipe its signature so nothing mistakes it for a table.
    if old_backup_lba > old_end && old_backup_lba < backup_entries_lba {
        write_at(disk, old_backup_lba * sector, &vec![0u8; ss])?;
    }
    // The protective MBR's one partition covers the whole disk (capped).
    let mut mbr = read_at(disk, 0, 512)?;
    if mbr[510..512] == [0x55, 0xaa] && mbr[446 + 4] == 0xee {
        let size = (disk_bytes / sector - 1).min(u32::MAX as u64) as u32;
        put_u32(&mut mbr, 446 + 12, size);
        write_at(disk, 0, &mbr)?;
    }
    disk.sync()?;
    Ok(Some(TableGrowth {
        start_lba: start,
        old_end_lba: old_end,
        new_end_lba: new_end,
        sector,
    }))
}

/// A partition device and the disk it is on, from sysfs.
#[derive(Debug, Clone)]
pub struct PartitionDev {
    pub partition: PathBuf,
    pub disk: PathBuf,
    pub number: u32,
    /// The disk's logical sector size.
    pub sector: u64,
}

fn sys_read(p: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(p)
        .with_context(|| format!("reading {}", p.display()))?
        .trim()
        .to_string())
}

impl PartitionDev {
    pub fn find(partition: &Path) -> anyhow::Result<PartitionDev> {
        let real = std::fs::canonicalize(partition)
            .with_context(|| format!("{} not found", partition.display()))?;
        let name = real
            .file_name()
            .and_then(|n| n.to_str())
            .context("partition device name")?
            .to_string();
        let sys = std::fs::canonicalize(Path::new("/sys/class/block").join(&name))
            .with_context(|| format!("{name} is not a block device"))?;
        let number: u32 = sys_read(&sys.join("partition"))
            .with_context(|| format!("{name} is not a partition"))?
            .parse()
            .context("partition number")?;
        let disk_name = sys
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .context("the partition's disk")?
            .to_string();
        let sector = sys_read(
            &Path::new("/sys/block")
                .join(&disk_name)
                .join("queue/logical_block_size"),
        )?
        .parse()
        .context("logical block size")?;
        Ok(PartitionDev {
            partition: real,
            disk: Path::new("/dev").join(disk_name),
            number,
            sector,
        })
    }

    /// The partition's size as the kernel sees it now.
    pub fn bytes(&self) -> anyhow::Result<u64> {
        let name = self.partition.file_name().context("name")?;
        let sectors: u64 = sys_read(&Path::new("/sys/class/block").join(name).join("size"))?
            .parse()
            .context("partition size")?;
        Ok(sectors * 512)
    }
}

/// The size of a block device or file, in bytes.
fn device_bytes(f: &mut File) -> io::Result<u64> {
    f.seek(SeekFrom::End(0))
}

#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [libc::c_char; 64],
    volname: [libc::c_char; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

const BLKPG: libc::c_ulong = 0x1269;
const BLKPG_RESIZE_PARTITION: libc::c_int = 3;
/// `_IOW('f', 16, __u64)`.
const EXT4_IOC_RESIZE_FS: libc::c_ulong = 0x4008_6610;

/// Tells the kernel a partition's new extent (it may be mounted).
fn kernel_resize_partition(disk: &File, g: &TableGrowth, number: u32) -> io::Result<()> {
    let mut p = BlkpgPartition {
        start: (g.start_lba * g.sector) as libc::c_longlong,
        length: g.new_bytes() as libc::c_longlong,
        pno: number as libc::c_int,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_RESIZE_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: (&mut p as *mut BlkpgPartition).cast(),
    };
    // SAFETY: `arg` and the partition record it points to live across the
    // call; the kernel only reads them.
    let r = unsafe { libc::ioctl(disk.as_raw_fd(), BLKPG as _, &mut arg) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An ext4 superblock's block size and block count.
pub fn ext4_size(superblock: &[u8]) -> anyhow::Result<(u64, u64)> {
    if superblock.len() < 1024 || u16::from_le_bytes([superblock[0x38], superblock[0x39]]) != 0xef53
    {
        bail!("not an ext4 file system");
    }
    let log = u32_at(superblock, 0x18);
    if log > 6 {
        bail!("ext4 block size 2^{} KiB is not supported", log);
    }
    let block = 1024u64 << log;
    let incompat = u32_at(superblock, 0x60);
    let hi = if incompat & 0x80 != 0 {
        u32_at(superblock, 0x150) as u64
    } else {
        0
    };
    Ok((block, (hi << 32) | u32_at(superblock, 0x4) as u64))
}

/// What `grow` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grown {
    /// The partition, before and after, bytes (equal when unchanged).
    pub partition: (u64, u64),
    /// The file system, before and after, bytes.
    pub filesystem: (u64, u64),
}

/// Grows the partition behind `data` (mounted there) and its file system
/// into the disk's free end.
pub fn grow(partition: &Path, data: &Path) -> anyhow::Result<Grown> {
    let dev = PartitionDev::find(partition)?;
    let mut disk = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev.disk)
        .with_context(|| format!("opening {}", dev.disk.display()))?;
    let disk_bytes = device_bytes(&mut disk)?;
    let before = dev.bytes()?;
    let mut out = Grown {
        partition: (before, before),
        ..Grown::default()
    };
    if let Some(g) = grow_table(&mut disk, disk_bytes, dev.sector, dev.number)
        .with_context(|| format!("growing the partition table of {}", dev.disk.display()))?
    {
        kernel_resize_partition(&disk, &g, dev.number).with_context(|| {
            format!(
                "telling the kernel {} is now {} bytes",
                dev.partition.display(),
                g.new_bytes()
            )
        })?;
        out.partition.1 = dev.bytes()?;
    }
    // A table grown by a boot cut short before the kernel heard of it was
    // read whole at this boot: the file system step below still runs.

    let mut part = File::open(&dev.partition)
        .with_context(|| format!("opening {}", dev.partition.display()))?;
    let sb = read_at(&mut part, 1024, 1024).context("reading the ext4 superblock")?;
    let (block, blocks) = ext4_size(&sb)?;
    out.filesystem = (block * blocks, block * blocks);
    let want = out.partition.1 / block;
    if want > blocks {
        let dir = File::open(data).with_context(|| format!("opening {}", data.display()))?;
        let n: u64 = want;
        // SAFETY: the kernel reads one u64 from `n`, which outlives the call.
        let r = unsafe { libc::ioctl(dir.as_raw_fd(), EXT4_IOC_RESIZE_FS as _, &n) };
        if r < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("resizing the file system on {}", data.display()));
        }
        out.filesystem.1 = want * block;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext4_superblock_sizes() {
        let mut sb = vec![0u8; 1024];
        sb[0x38..0x3a].copy_from_slice(&0xef53u16.to_le_bytes());
        put_u32(&mut sb, 0x18, 2);
        put_u32(&mut sb, 0x4, 1000);
        assert_eq!(ext4_size(&sb).unwrap(), (4096, 1000));
        put_u32(&mut sb, 0x150, 1);
        assert_eq!(
            ext4_size(&sb).unwrap(),
            (4096, 1000),
            "hi word only with 64bit"
        );
        put_u32(&mut sb, 0x60, 0x80);
        assert_eq!(ext4_size(&sb).unwrap(), (4096, (1 << 32) + 1000));
        sb[0x38] = 0;
        assert!(ext4_size(&sb).is_err());
    }

    #[test]
    fn header_checksum_is_checked() {
        let mut s = vec![0u8; 512];
        s[..8].copy_from_slice(GPT_SIGNATURE);
        put_u32(&mut s, 12, 92);
        put_u32(&mut s, 80, 128);
        put_u32(&mut s, 84, 128);
        let crc = crc32fast::hash(&s[..92]);
        put_u32(&mut s, 16, crc);
        let h = Header::parse(&s).unwrap();
        assert_eq!(h.encode(512), s);
        s[40] ^= 1;
        assert!(Header::parse(&s)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
    }
}
