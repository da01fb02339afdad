//! `xfs`: per-filesystem XFS statistics from `/sys/fs/xfs/<device>/stats/stats`, as
//! node_exporter 1.5's xfs collector: `node_xfs_*_total{device}`, every one a counter. A host
//! without XFS gives no series.
//!
//! Every line's values must be unsigned 32-bit integers (64-bit on `xpc`), and the lines
//! node_exporter exports must have the number of fields the kernel writes, as procfs checks:
//! a file that does not is a parse error for this scrape, not a series with a shifted value.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The xfs collector.
pub struct Xfs {
    paths: HostPaths,
}

/// One exported field: (stats line, the field counts procfs accepts, index, metric name
/// without `_total`, help).
type Field = (&'static str, &'static [usize], usize, &'static str, &'static str);

#[rustfmt::skip]
const FIELDS: &[Field] = &[
    ("extent_alloc", &[4], 0, "node_xfs_extent_allocation_extents_allocated", "Number of extents allocated for a filesystem."),
    ("extent_alloc", &[4], 1, "node_xfs_extent_allocation_blocks_allocated", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", &[4], 2, "node_xfs_extent_allocation_extents_freed", "Number of extents freed for a filesystem."),
    ("extent_alloc", &[4], 3, "node_xfs_extent_allocation_blocks_freed", "Number of blocks freed for a filesystem."),
    ("abt", &[4], 0, "node_xfs_allocation_btree_lookups", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", &[4], 1, "node_xfs_allocation_btree_compares", "Number of allocation B-tree compares for a filesystem."),
    ("abt", &[4], 2, "node_xfs_allocation_btree_records_inserted", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", &[4], 3, "node_xfs_allocation_btree_records_deleted", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", &[7], 0, "node_xfs_block_mapping_reads", "Number of block map for read operations for a filesystem."),
    ("blk_map", &[7], 1, "node_xfs_block_mapping_writes", "Number of block map for write operations for a filesystem."),
    ("blk_map", &[7], 2, "node_xfs_block_mapping_unmaps", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", &[7], 3, "node_xfs_block_mapping_extent_list_insertions", "Number of extent list insertions for a filesystem."),
    ("blk_map", &[7], 4, "node_xfs_block_mapping_extent_list_deletions", "Number of extent list deletions for a filesystem."),
    ("blk_map", &[7], 5, "node_xfs_block_mapping_extent_list_lookups", "Number of extent list lookups for a filesystem."),
    ("blk_map", &[7], 6, "node_xfs_block_mapping_extent_list_compares", "Number of extent list compares for a filesystem."),
    ("bmbt", &[4], 0, "node_xfs_block_map_btree_lookups", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", &[4], 1, "node_xfs_block_map_btree_compares", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", &[4], 2, "node_xfs_block_map_btree_records_inserted", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", &[4], 3, "node_xfs_block_map_btree_records_deleted", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", &[4], 0, "node_xfs_directory_operation_lookup", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", &[4], 1, "node_xfs_directory_operation_create", "Number of times a new directory entry was created for a filesystem."),
    ("dir", &[4], 2, "node_xfs_directory_operation_remove", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", &[4], 3, "node_xfs_directory_operation_getdents", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", &[7], 0, "node_xfs_inode_operation_attempts", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", &[7], 1, "node_xfs_inode_operation_found", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", &[7], 2, "node_xfs_inode_operation_recycled", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", &[7], 3, "node_xfs_inode_operation_missed", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", &[7], 4, "node_xfs_inode_operation_duplicates", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", &[7], 5, "node_xfs_inode_operation_reclaims", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", &[7], 6, "node_xfs_inode_operation_attribute_changes", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", &[2], 1, "node_xfs_read_calls", "Number of read(2) system calls made to files in a filesystem."),
    ("rw", &[2], 0, "node_xfs_write_calls", "Number of write(2) system calls made to files in a filesystem."),
    ("vnodes", &[7, 8], 0, "node_xfs_vnode_active", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", &[7, 8], 1, "node_xfs_vnode_allocate", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", &[7, 8], 2, "node_xfs_vnode_get", "Number of times vn_get called for a filesystem."),
    ("vnodes", &[7, 8], 3, "node_xfs_vnode_hold", "Number of times vn_hold called for a filesystem."),
    ("vnodes", &[7, 8], 4, "node_xfs_vnode_release", "Number of times vn_rele called for a filesystem."),
    ("vnodes", &[7, 8], 5, "node_xfs_vnode_reclaim", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", &[7, 8], 6, "node_xfs_vnode_remove", "Number of times vn_remove called for a filesystem."),
];

/// One filesystem's exported values, in [`FIELDS`] order. A line the file lacks counts as
/// zero, as procfs leaves an absent line's fields zero.
fn parse(text: &str) -> Result<Vec<u64>, String> {
    let mut values = vec![0u64; FIELDS.len()];
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(label), rest) = (words.next(), words.collect::<Vec<_>>()) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let max = if label == "xpc" { u64::MAX } else { u32::MAX as u64 };
        let numbers = rest
            .iter()
            .map(|w| w.parse::<u64>().ok().filter(|v| *v <= max))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| format!("{label}: values are not unsigned integers: {line:?}"))?;
        for (i, (name, counts, index, _, _)) in FIELDS.iter().enumerate() {
            if *name != label {
                continue;
            }
            if !counts.contains(&numbers.len()) {
                return Err(format!(
                    "incorrect number of values for XFS {label} stats: {}",
                    numbers.len()
                ));
            }
            if let (Some(slot), Some(v)) = (values.get_mut(i), numbers.get(*index)) {
                *slot = *v;
            }
        }
    }
    Ok(values)
}

impl Collector for Xfs {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("fs/xfs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut devices: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| dir.join(n).join("stats/stats").is_file())
            .collect();
        devices.sort();
        let mut families: Vec<MetricFamily> = FIELDS
            .iter()
            .map(|(_, _, _, name, help)| MetricFamily::counter(*name, None, *help))
            .collect();
        for device in devices {
            let path = dir.join(&device).join("stats/stats");
            let text = crate::paths::read(path.clone())?;
            let values = parse(&text).map_err(|reason| Error::parse(path, reason))?;
            for (family, value) in families.iter_mut().zip(values) {
                family.push([("device", device.clone())], value);
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// The `xfs` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "xfs",
    enabled_by_default: true,
    help: "XFS filesystem statistics (node_xfs_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Xfs {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_exported_lines_and_checks_their_lengths() {
        let v = super::parse("extent_alloc 1 872 0 0\nrw 28 3\nvnodes 4 0 0 0 1 1 1\nxpc 99999999999 0 0\n")
            .unwrap();
        assert_eq!(&v[..4], &[1, 872, 0, 0]);
        let rw = super::FIELDS.iter().position(|f| f.3 == "node_xfs_write_calls").unwrap();
        assert_eq!(v[rw], 28, "the kernel writes `rw <write calls> <read calls>`");
        assert!(super::parse("rw 1 2 3\n").unwrap_err().contains("rw"));
        assert!(super::parse("ig 1 2 x 4 5 6 7\n").is_err());
        assert!(super::parse("abt 4294967296 0 0 0\n").is_err());
    }
}
