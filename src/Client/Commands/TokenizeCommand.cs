using System.CommandLine;
using System.Globalization;
using System.Text;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Maths.Tokenization;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>tokenize [--encoding NAME] (TEXT | --file PATH)</c>: the text's tokens with their byte ranges and IDs.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var encodingOption = EncodingOption.Create();
        var fileOption = new Option<FileInfo?>("--file", "-f")
        {
            Description = "Tokenize the contents of a UTF-8 text file instead of TEXT.",
            HelpName = "path",
        };
        var textArgument = new Argument<string?>("text")
        {
            Description = "The text to tokenize (quote it to keep spaces exact).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("tokenize", "Split text into tokens: each token's text, UTF-8 byte range and ID.")
        {
            encodingOption,
            fileOption,
            textArgument,
        };
        command.SetCliAction(context =>
        {
            var encoding = EncodingOption.Resolve(context.GetValue(encodingOption));
            var text = ReadText(context.GetValue(textArgument), context.GetValue(fileOption));
            Write(context, encoding, text, encoding.Tokenize(text));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string ReadText(string? text, FileInfo? file)
    {
        if (file is not null)
        {
            if (text is not null)
            {
                throw new CliUsageException("Give either TEXT or --file, not both.");
            }

            if (!file.Exists)
            {
                throw new CliUsageException($"File not found: {file.FullName}");
            }

            text = File.ReadAllText(file.FullName, Encoding.UTF8);
        }

        return string.IsNullOrEmpty(text)
            ? throw new CliUsageException("There is nothing to tokenize: the text is empty.")
            : text;
    }

    private static void Write(CliContext context, ITokenEncoding encoding, string text, IReadOnlyList<TokenPiece> pieces)
    {
        if (context.Json)
        {
            context.WriteJson(new TokenizeResult(encoding.Name, text, pieces.Count, pieces));
            return;
        }

        var table = new Table()
            .AddColumn(new TableColumn("#").RightAligned())
            .AddColumn(new TableColumn("Piece"))
            .AddColumn(new TableColumn("Bytes").RightAligned())
            .AddColumn(new TableColumn("ID").RightAligned());
        for (var i = 0; i < pieces.Count; i++)
        {
            var piece = pieces[i];
            table.AddRow(
                new Text(i.ToString(CultureInfo.InvariantCulture)),
                new Text(ShowWhitespace(piece.Text)),
                new Text(string.Create(CultureInfo.InvariantCulture, $"{piece.ByteStart}..{piece.ByteStart + piece.ByteLength}")),
                new Text(piece.Id.ToString(CultureInfo.InvariantCulture)));
        }

        context.Console.Write(table);
        var characters = text.EnumerateRunes().Count();
        var bytes = Encoding.UTF8.GetByteCount(text);
        context.Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{Plural(pieces.Count, "token")} ({encoding.Name}) for {Plural(characters, "character")}, {Plural(bytes, "byte")}"));
    }

    /// <summary>Makes a piece's spaces visible: GPT-2 glues the space to the next word ("·architecture").</summary>
    internal static string ShowWhitespace(string piece)
    {
        var builder = new StringBuilder(piece.Length);
        foreach (var c in piece)
        {
            _ = c switch
            {
                ' ' => builder.Append('·'),
                '\t' => builder.Append('→'),
                '\n' => builder.Append('↵'),
                '\r' => builder.Append('␍'),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    private static string Plural(int count, string noun) =>
        string.Create(CultureInfo.InvariantCulture, $"{count:N0} {noun}{(count == 1 ? "" : "s")}");

    /// <summary>The <c>--json</c> document: <c>{"encoding","text","tokenCount","tokens":[{"text","byteStart","byteLength","id"}]}</c>.</summary>
    private sealed record TokenizeResult(string Encoding, string Text, int TokenCount, IReadOnlyList<TokenPiece> Tokens);
}
