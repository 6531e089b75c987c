//! A byte trie of path prefixes.
//!
//! `PathMatch::Prefix` is a plain string prefix, so the routes whose prefix
//! matches a path are exactly those stored on the nodes visited while walking
//! the path's bytes from the root. One walk costs O(path length) whatever the
//! number of prefix routes, and yields a handful of sorted route lists for the
//! merge in `candidates.rs`.

use super::candidates::Candidates;

/// Path prefixes → sorted route lists. Node 0 is the root (the empty prefix).
#[derive(Debug, Default)]
pub(super) struct PrefixTrie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    /// Children sorted by byte (binary-searched).
    edges: Vec<(u8, u32)>,
    /// Routes whose prefix ends at this node, ascending.
    routes: Vec<u32>,
}

impl PrefixTrie {
    /// Adds `route` under `prefix`. Routes must be added in ascending order.
    pub(super) fn insert(&mut self, prefix: &str, route: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for &b in prefix.as_bytes() {
            at = match self.nodes[at].edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.nodes[at].edges[i].1 as usize,
                Err(i) => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    // A trie never has more nodes than routes × prefix bytes,
                    // far below u32::MAX for any real configuration.
                    self.nodes[at].edges.insert(i, (b, child as u32));
                    child
                }
            };
        }
        super::index::push_route(&mut self.nodes[at].routes, route);
    }

    /// Pushes the route list of every stored prefix of `path`.
    #[inline]
    pub(super) fn collect<'a>(&'a self, path: &str, out: &mut Candidates<'a>) {
        let Some(root) = self.nodes.first() else {
            return;
        };
        out.push(&root.routes);
        let mut node = root;
        for &b in path.as_bytes() {
            match node.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => node = &self.nodes[node.edges[i].1 as usize],
                Err(_) => return,
            }
            out.push(&node.routes);
        }
    }

    /// Number of nodes (tests and `Debug` summaries).
    pub(super) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
