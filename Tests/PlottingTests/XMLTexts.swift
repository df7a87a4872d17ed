import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// An XML document parsed by Foundation's XMLParser: its root element, and the text inside each element name.
struct XMLTexts {
    private(set) var root = ""
    private var texts: [String: [String]] = [:]
    private var counts: [String: Int] = [:]

    /// Parses `xml`; fails with the parser's error and line if it is not well-formed.
    init(_ xml: String) throws {
        final class Collector: NSObject, XMLParserDelegate {
            var root: String?
            var stack: [(name: String, text: String)] = []
            var texts: [String: [String]] = [:]
            var counts: [String: Int] = [:]
            func parser(_ p: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if root == nil { root = name }
                counts[name, default: 0] += 1
                stack.append((name, ""))
            }
            func parser(_ p: XMLParser, foundCharacters s: String) { if !stack.isEmpty { stack[stack.count - 1].text += s } }
            func parser(_ p: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                let e = stack.removeLast()
                texts[e.name, default: []].append(e.text)
            }
        }
        let parser = XMLParser(data: Data(xml.utf8))
        let c = Collector()
        parser.delegate = c
        guard parser.parse() else {
            throw NSError(domain: "XMLTexts", code: 1, userInfo: [NSLocalizedDescriptionKey: "not well-formed XML at line \(parser.lineNumber): \(String(describing: parser.parserError))"])
        }
        root = c.root ?? ""
        texts = c.texts
        counts = c.counts
    }

    /// The text of every `name` element, in document order.
    func of(_ name: String) -> [String] { texts[name] ?? [] }
    /// How many `name` elements there are.
    func count(_ name: String) -> Int { counts[name] ?? 0 }
}
