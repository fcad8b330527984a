using System.Text.Json;

namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Instruction/response pairs as JSON Lines: one object <c>{"instruction": "...", "response": "..."}</c> per line, both
/// fields strings with some text, no other field. Blank lines are skipped. Every problem names its line.
/// </summary>
public static class InstructionFile
{
    public const string InstructionField = "instruction";

    public const string ResponseField = "response";

    /// <summary>The examples with their 1-based line numbers.</summary>
    /// <exception cref="InvalidDataException">The first bad line and what is wrong with it, or a file without examples.</exception>
    public static IReadOnlyList<(int Line, InstructionExample Example)> Parse(string name, string text)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(text);
        var examples = new List<(int, InstructionExample)>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                continue;
            }

            examples.Add((i + 1, ParseLine(name, i + 1, line)));
        }

        if (examples.Count == 0)
        {
            throw new InvalidDataException(
                $"The instruction file '{name}' holds no examples: write one JSON object {{\"{InstructionField}\": \"...\", \"{ResponseField}\": \"...\"}} per line.");
        }

        return examples;
    }

    private static InstructionExample ParseLine(string name, int number, string line)
    {
        string Where() => $"The instruction file '{name}', line {number}";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Where()}: not valid JSON ({e.Message.Split(" Path:")[0].Split(" LineNumber:")[0].TrimEnd('.')}).", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException(
                    $"{Where()}: expected a JSON object {{\"{InstructionField}\": \"...\", \"{ResponseField}\": \"...\"}}, got {Kind(document.RootElement.ValueKind)}.");
            }

            string? instruction = null, response = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name is not (InstructionField or ResponseField))
                {
                    throw new InvalidDataException($"{Where()}: unknown field '{property.Name}'; a line has exactly the fields '{InstructionField}' and '{ResponseField}'.");
                }

                if ((property.Name == InstructionField ? instruction : response) is not null)
                {
                    throw new InvalidDataException($"{Where()}: the field '{property.Name}' appears twice.");
                }

                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    throw new InvalidDataException($"{Where()}: the field '{property.Name}' must be a string, got {Kind(property.Value.ValueKind)}.");
                }

                var value = property.Value.GetString()!;
                if (value.Trim().Length == 0)
                {
                    throw new InvalidDataException($"{Where()}: the field '{property.Name}' is empty.");
                }

                if (property.Name == InstructionField)
                {
                    instruction = value;
                }
                else
                {
                    response = value;
                }
            }

            if (instruction is null || response is null)
            {
                throw new InvalidDataException($"{Where()}: missing the field '{(instruction is null ? InstructionField : ResponseField)}'.");
            }

            return new InstructionExample(instruction, response);
        }
    }

    private static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        JsonValueKind.Null => "null",
        _ => "an object",
    };
}
