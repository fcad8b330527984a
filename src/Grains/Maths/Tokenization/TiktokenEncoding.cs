using System.IO.Compression;
using System.Reflection;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>A tiktoken byte-pair encoding from Microsoft.ML.Tokenizers, with exact byte offsets per token.</summary>
/// <remarks>
/// The library reports offsets in UTF-16 characters, and a token that holds part of a multi-byte character
/// shares its character range with its neighbours. The page needs byte ranges, so we read each token's bytes
/// from the same embedded vocabulary the library uses and add them up.
/// </remarks>
internal sealed class TiktokenEncoding : ITokenEncoding
{
    private readonly TiktokenTokenizer _tokenizer;
    private readonly Dictionary<int, byte[]> _bytesById;
    private readonly Dictionary<int, string> _specialById;

    private TiktokenEncoding(string name, TiktokenTokenizer tokenizer, Dictionary<int, byte[]> bytesById)
    {
        Name = name;
        _tokenizer = tokenizer;
        _bytesById = bytesById;
        _specialById = (tokenizer.SpecialTokens ?? new Dictionary<string, int>()).ToDictionary(kv => kv.Value, kv => kv.Key);
        VocabularySize = Math.Max(bytesById.Keys.Max(), _specialById.Count == 0 ? 0 : _specialById.Keys.Max()) + 1;
        EndOfTextId = tokenizer.SpecialTokens is { } specials && specials.TryGetValue("<|endoftext|>", out var eot) ? eot : null;
    }

    public string Name { get; }

    public int VocabularySize { get; }

    public int? EndOfTextId { get; }

    public static TiktokenEncoding Create(string name, string modelName, string resourceName, string dataAssemblyName)
    {
        var tokenizer = TiktokenTokenizer.CreateForModel(modelName);
        return new TiktokenEncoding(name, tokenizer, ReadVocabulary(dataAssemblyName, resourceName));
    }

    public IReadOnlyList<TokenPiece> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _tokenizer.EncodeToIds(text);
        var pieces = new List<TokenPiece>(ids.Count);
        var byteStart = 0;
        foreach (var id in ids)
        {
            var length = TokenBytes(id).Length;
            pieces.Add(new TokenPiece(Describe(id), byteStart, length, id));
            byteStart += length;
        }

        return pieces;
    }

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. _tokenizer.EncodeToIds(text)];
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            bytes.AddRange(TokenBytes(id));
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }

    public string Describe(int id)
    {
        var bytes = TokenBytes(id);
        var text = new UTF8Encoding(false, throwOnInvalidBytes: false).GetString(bytes);
        return text.Contains('\uFFFD', StringComparison.Ordinal)
            ? string.Concat(bytes.Select(b => b < 0x80 ? ((char)b).ToString() : $"<{b:X2}>"))
            : text;
    }

    private byte[] TokenBytes(int id)
    {
        if (_bytesById.TryGetValue(id, out var bytes))
        {
            return bytes;
        }

        if (_specialById.TryGetValue(id, out var special))
        {
            return Encoding.UTF8.GetBytes(special);
        }

        throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ID {id} is not in the {Name} vocabulary (0..{VocabularySize - 1}).");
    }

    /// <summary>Reads the data package's deflated .tiktoken resource.</summary>
    /// <remarks>
    /// The packages ship a "Capacity: N" header followed by one base64 token per line, its rank being its line
    /// number; OpenAI's original files write "base64 rank" instead. Both are read, so the rank is never guessed.
    /// </remarks>
    private static Dictionary<int, byte[]> ReadVocabulary(string assemblyName, string resourceName)
    {
        const string CapacityHeader = "Capacity:";
        var assembly = Assembly.Load(assemblyName);
        using var compressed = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"Resource {resourceName} is missing from {assemblyName}.");
        using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated, Encoding.ASCII);
        var table = new Dictionary<int, byte[]>(capacity: 200_000);
        var rank = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith(CapacityHeader, StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space < 0)
            {
                table[rank++] = Convert.FromBase64String(line);
                continue;
            }

            rank = int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture);
            table[rank++] = Convert.FromBase64String(line[..space]);
        }

        return table;
    }
}
