using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// Turns what ASP.NET Core's parameter binding and System.Text.Json say about a refused request into one sentence that
/// names the field or parameter, in the API's own words: <c>Unknown field 'stpes'.</c>, <c>Field 'steps' must be a whole
/// number.</c>, <c>Query parameter 'after' must be a whole number; got 'abc'.</c>
/// </summary>
public static partial class RequestErrors
{
    /// <summary>The message of a request that binding refused; <paramref name="endpoint"/> gives the handler's parameter types.</summary>
    public static string Describe(BadHttpRequestException error, Endpoint? endpoint, JsonSerializerOptions json, string? contentType)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(json);
        var parameters = endpoint?.Metadata.GetMetadata<MethodInfo>()?.GetParameters() ?? [];
        Type? TypeOf(string name) => parameters.FirstOrDefault(p => p.Name == name)?.ParameterType;

        if (error.InnerException is JsonException body)
        {
            var bodyType = BodyParameter().Match(error.Message) is { Success: true } m ? TypeOf(m.Groups["name"].Value) : null;
            return Body(body, bodyType, json);
        }

        if (BindingFailed().Match(error.Message) is { Success: true } bind)
        {
            var name = bind.Groups["name"].Value;
            var where = endpoint is RouteEndpoint route && route.RoutePattern.GetParameter(name) is not null ? "Route value" : "Query parameter";
            return $"{where} '{name}' must be {Kind(TypeOf(name))}; got '{bind.Groups["value"].Value}'.";
        }

        return error.StatusCode switch
        {
            StatusCodes.Status415UnsupportedMediaType => $"Send the body as JSON (Content-Type: application/json); got '{contentType}'.",
            StatusCodes.Status413PayloadTooLarge => error.Message,
            _ when NoBody().IsMatch(error.Message) => "The request needs a JSON object as its body.",
            _ => error.Message,
        };
    }

    /// <summary>The message of a body System.Text.Json refused while reading it as <paramref name="bodyType"/>.</summary>
    public static string Body(JsonException error, Type? bodyType, JsonSerializerOptions json)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(json);
        var path = FieldPath(error.Path);
        if (error.InnerException is JsonException)
        {
            // The reader's own exception inside: the text is not JSON at all.
            var at = path.Length > 0 ? $" at field '{path}'" : "";
            return $"The body is not valid JSON{at} (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1}): {Reason(error.Message)}";
        }

        var segments = Segments(error.Path);
        if (Unmapped().IsMatch(error.Message))
        {
            var known = TypeAt(bodyType, segments[..^1], json) is { } owner && Properties(owner, json) is { Count: > 0 } names
                ? $" Known fields: {string.Join(", ", names)}."
                : "";
            return $"Unknown field '{path}'.{known}";
        }

        if (Conversion().IsMatch(error.Message))
        {
            return path.Length == 0
                ? $"The body must be {Kind(bodyType)}."
                : $"Field '{path}' must be {Kind(TypeAt(bodyType, segments, json))}.";
        }

        return path.Length > 0 ? $"Field '{path}': {Reason(error.Message)}" : $"The body could not be read: {Reason(error.Message)}";
    }

    /// <summary>What a value of <paramref name="type"/> looks like in JSON or in a query string.</summary>
    public static string Kind(Type? type)
    {
        type = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        return type switch
        {
            null => "of the expected type",
            _ when type == typeof(string) => "a string",
            _ when type == typeof(bool) => "true or false",
            _ when type.IsEnum => $"one of {string.Join(", ", Enum.GetNames(type))}",
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte)
                || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(sbyte) => "a whole number",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
            _ when typeof(IEnumerable).IsAssignableFrom(type) => "an array",
            _ => "a JSON object",
        };
    }

    private static string FieldPath(string? jsonPath) => (jsonPath ?? "$").TrimStart('$').TrimStart('.');

    /// <summary>The property names and array indices of a JSON path such as <c>$.spec.stop[0]</c> or <c>$['odd name']</c>.</summary>
    private static string[] Segments(string? jsonPath) =>
        [.. PathSegment().Matches(jsonPath ?? "").Select(m => m.Groups["index"].Success ? "[]" : m.Groups["name"].Success ? m.Groups["name"].Value : m.Groups["quoted"].Value)];

    private static Type? TypeAt(Type? root, ReadOnlySpan<string> segments, JsonSerializerOptions json)
    {
        var type = root;
        foreach (var segment in segments)
        {
            if (type is null)
            {
                return null;
            }

            var info = json.GetTypeInfo(type);
            type = segment == "[]"
                ? info.ElementType
                : info.Properties.FirstOrDefault(p => string.Equals(p.Name, segment, StringComparison.OrdinalIgnoreCase))?.PropertyType;
        }

        return type;
    }

    private static List<string> Properties(Type type, JsonSerializerOptions json) =>
        json.GetTypeInfo(type) is { Kind: System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object } info
            ? [.. info.Properties.Select(p => p.Name)]
            : [];

    /// <summary>System.Text.Json's sentence without its own " Path: $.x | LineNumber: 0 | BytePositionInLine: 9." tail.</summary>
    private static string Reason(string message)
    {
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal) is >= 0 and var p ? p : message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        return cut >= 0 ? message[..cut] : message;
    }

    [GeneratedRegex("""^Failed to read parameter "(?<type>[^"]*) (?<name>[^" ]+)" from the request body""")]
    private static partial Regex BodyParameter();

    [GeneratedRegex("""^Failed to bind parameter "(?<type>[^"]*) (?<name>[^" ]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindingFailed();

    [GeneratedRegex("no body was provided|was not provided from body")]
    private static partial Regex NoBody();

    [GeneratedRegex("^The JSON property '.*' could not be mapped to any .NET member", RegexOptions.Singleline)]
    private static partial Regex Unmapped();

    [GeneratedRegex("^The JSON value could not be converted to ")]
    private static partial Regex Conversion();

    [GeneratedRegex("""\.(?<name>[^.\[]+)|\['(?<quoted>(?:[^']|'')*)'\]|\[(?<index>\d+)\]""")]
    private static partial Regex PathSegment();
}
